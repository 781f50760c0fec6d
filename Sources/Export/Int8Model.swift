import Foundation
import Networks
import Quantization
import Spaces

/// `model.int8.safetensors`: an exported model's int8 form (layout in docs/formats.md). The
/// structure comes from model.json (the float graph, normalization folded); this file holds
/// what differs: int8 weights, per-channel scales, int32 biases and every activation's grid.
public enum Int8ModelFile {
    public static let file = "model.int8.safetensors"

    public static func tensors(_ q: QuantizedGraph) -> [Safetensors.RawTensor] {
        var out: [Safetensors.RawTensor] = []
        func grid(_ prefix: String, _ a: AffineQuantization) {
            out.append(.init(name: prefix + ".scale", dtype: .f32, shape: [1], values: [a.scale]))
            out.append(.init(name: prefix + ".zero_point", dtype: .u8, shape: [1], values: [UInt8(a.zeroPoint)]))
        }
        grid("input", q.activations[0])
        for (i, node) in q.graph.nodes.enumerated() {
            if i + 1 < q.graph.output { grid(node.name + ".output", q.activations[i + 1]) }
            guard let layer = q.layers[i] else { continue }
            out.append(.init(name: node.name + ".weight", dtype: .i8, shape: weightShape(node), values: layer.weights.values))
            out.append(.init(name: node.name + ".weight_scale", dtype: .f32, shape: [layer.weights.outputs], values: layer.weights.scales))
            out.append(.init(name: node.name + ".bias", dtype: .i32, shape: [layer.bias.count], values: layer.bias))
            if let pad = layer.padValue { out.append(.init(name: node.name + ".pad_value", dtype: .i32, shape: [pad.count], values: pad)) }
        }
        return out
    }

    public static func write(_ q: QuantizedGraph, metadata: [String: String], to path: String) throws {
        var meta = metadata
        meta["format"] = "pare-int8"
        meta["quantization"] = String(decoding: try JSONEncoder().encode(q.settings), as: UTF8.self)
        try Safetensors.write(raw: tensors(q), metadata: meta, to: path)
    }

    /// The int8 model of `graph` (the float graph it was quantized from, rebuilt from
    /// model.json), every tensor checked against it.
    public static func read(_ path: String, graph: InferenceGraph) throws -> QuantizedGraph {
        let (stored, metadata) = try Safetensors.readRaw(path)
        guard metadata["format"] == "pare-int8" else {
            throw ModelFileError.badModel(path: path, field: "__metadata__.format", reason: "expected pare-int8, found \(quoted(metadata["format"] ?? "nothing"))")
        }
        guard let text = metadata["quantization"], let settings = try? JSONDecoder().decode(QuantizationSettings.self, from: Data(text.utf8)) else {
            throw ModelFileError.badModel(path: path, field: "__metadata__.quantization", reason: "expected the quantization settings as JSON")
        }
        var used = Set<String>()
        func tensor(_ name: String, _ dtype: Safetensors.DType, _ shape: [Int]) throws -> Safetensors.RawTensor {
            guard let t = stored[name] else { throw ModelFileError.missingTensor(path: path, tensor: name) }
            guard t.dtype == dtype else { throw ModelFileError.badModel(path: path, field: name, reason: "dtype \(t.dtype.rawValue), expected \(dtype.rawValue)") }
            guard t.shape == shape else { throw ModelFileError.shapeMismatch(path: path, tensor: name, expected: shape, found: t.shape) }
            used.insert(name)
            return t
        }
        func grid(_ prefix: String) throws -> AffineQuantization {
            let scale = try tensor(prefix + ".scale", .f32, [1]).values(as: Float.self)[0]
            let zero = try tensor(prefix + ".zero_point", .u8, [1]).values(as: UInt8.self)[0]
            guard scale > 0, scale.isFinite else { throw ModelFileError.badModel(path: path, field: prefix + ".scale", reason: "\(scale), expected a positive finite scale") }
            return AffineQuantization(scale: scale, zeroPoint: Int32(zero))
        }
        var activations = [try grid("input")]
        var layers: [Int: QuantizedLayer] = [:]
        for (i, node) in graph.nodes.enumerated() {
            if i + 1 < graph.output { activations.append(try grid(node.name + ".output")) }
            let outputs: Int
            switch node.op {
            case let .conv(c): outputs = c.outputChannels
            case let .linear(_, _, o, _): outputs = o
            default: continue
            }
            let w = try tensor(node.name + ".weight", .i8, weightShape(node)).values(as: Int8.self)
            let scales = try tensor(node.name + ".weight_scale", .f32, [outputs]).values(as: Float.self)
            guard scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw ModelFileError.badModel(path: path, field: node.name + ".weight_scale", reason: "expected positive finite scales")
            }
            let bias = try tensor(node.name + ".bias", .i32, [outputs]).values(as: Int32.self)
            var pad: [Int32]?
            if case let .conv(c) = node.op, c.padValue != nil {
                pad = try tensor(node.name + ".pad_value", .i32, [c.inputChannels]).values(as: Int32.self)
            }
            layers[i] = QuantizedLayer(weights: ChannelQuantizedWeights(values: w, scales: scales), bias: bias, padValue: pad)
        }
        if let extra = Set(stored.keys).subtracting(used).sorted().first { throw ModelFileError.unexpectedTensor(path: path, tensor: extra) }
        return QuantizedGraph(graph: graph, activations: activations, layers: layers, settings: settings)
    }

    static func weightShape(_ node: InferenceGraph.Node) -> [Int] {
        switch node.op {
        case let .conv(c): return c.weightShape
        case let .linear(_, _, o, i): return [o, i]
        default: return []
        }
    }
}
