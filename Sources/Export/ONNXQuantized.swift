import Foundation
import Networks
import Quantization

/// The int8 model as ONNX in the QDQ form (opset 13): float tensors between
/// QuantizeLinear → DequantizeLinear pairs carrying every activation's grid, int8 weights
/// (per output channel, axis 0) and int32 biases behind DequantizeLinear. Runtimes such as
/// onnxruntime fuse each DQ → Conv → Q into an integer convolution. Input: float NCHW pixels
/// / 255; output: float logits.
extension ONNXExport {
    public static func encode(_ q: QuantizedGraph, producerVersion: String) -> Data {
        model(producerVersion: producerVersion) { $0.build(q) }
    }
}

extension ONNXExport.GraphBuilder {
    /// Name of value `id` as its consumers read it (dequantized).
    func dequantized(_ id: Int) -> String { "v\(id)" }

    /// `source` (float) → Q(grid of `id`) → DQ → the value's name.
    mutating func requantize(_ source: String, id: Int, _ a: AffineQuantization) {
        let scale = "v\(id).scale", zero = "v\(id).zero_point"
        floatTensor(scale, [], [a.scale])
        rawTensor(zero, [], ONNXExport.DataType.uint8, [UInt8(a.zeroPoint)])
        node("QuantizeLinear", "v\(id).quantize", inputs: [source, scale, zero], outputs: ["v\(id)_q"])
        node("DequantizeLinear", "v\(id).dequantize", inputs: ["v\(id)_q", scale, zero], outputs: [dequantized(id)])
    }

    /// int8 weights and int32 bias behind per-channel DequantizeLinear nodes; returns their names.
    mutating func quantizedParameters(_ name: String, _ layer: QuantizedLayer, shape: [Int], input: AffineQuantization) -> (String, String) {
        let o = layer.weights.outputs
        rawTensor(name + ".weight_q", shape, ONNXExport.DataType.int8, layer.weights.values)
        floatTensor(name + ".weight_scale", [o], layer.weights.scales)
        rawTensor(name + ".weight_zero_point", [o], ONNXExport.DataType.int8, [Int8](repeating: 0, count: o))
        node("DequantizeLinear", name + ".weight_dequantize", inputs: [name + ".weight_q", name + ".weight_scale", name + ".weight_zero_point"],
             outputs: [name + ".weight"], [.int("axis", 0)])
        rawTensor(name + ".bias_q", [o], ONNXExport.DataType.int32, layer.bias)
        floatTensor(name + ".bias_scale", [o], layer.weights.scales.map { input.scale * $0 })
        rawTensor(name + ".bias_zero_point", [o], ONNXExport.DataType.int32, [Int32](repeating: 0, count: o))
        node("DequantizeLinear", name + ".bias_dequantize", inputs: [name + ".bias_q", name + ".bias_scale", name + ".bias_zero_point"],
             outputs: [name + ".bias"], [.int("axis", 0)])
        return (name + ".weight", name + ".bias")
    }

    mutating func build(_ q: QuantizedGraph) {
        let g = q.graph
        requantize("input", id: 0, q.activations[0])
        for (index, node) in g.nodes.enumerated() {
            let id = index + 1, name = node.name
            let ins = node.inputs.map { dequantized($0) }
            let last = id == g.output
            let out = last ? "logits" : "v\(id)_f"
            switch node.op {
            case let .normalize(mean, std):
                normalize(name, mean: mean, std: std, input: ins[0], output: out)
            case let .conv(c):
                let layer = q.layers[index]!, input = q.activations[node.inputs[0]]
                let (w, b) = quantizedParameters(name, layer, shape: c.weightShape, input: input)
                // The border value is on the input's grid, so padding keeps the tensor on it.
                conv(name, c, input: ins[0], weight: w, bias: b, padValues: layer.padValue.map { $0.map { input.dequantize($0) } }, output: out)
            case let .linear(_, _, o, i):
                let (w, b) = quantizedParameters(name, q.layers[index]!, shape: [o, i], input: q.activations[node.inputs[0]])
                self.node("Gemm", name, inputs: [ins[0], w, b], outputs: [out], [.int("transB", 1)])
            default:
                move(node, inputs: ins, output: out)
            }
            if !last { requantize(out, id: id, q.activations[id]) }
        }
        graph.string(2, "pare-int8")
        valueInfo(11, "input", ["N", g.inputShape[0], g.inputShape[1], g.inputShape[2]])
        valueInfo(12, "logits", ["N", g.classes])
    }
}
