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
                let c = mean.count
                floatTensor(name + ".mean", [1, c, 1, 1], mean)
                floatTensor(name + ".std", [1, c, 1, 1], std)
                let centred = fresh(name)
                self.node("Sub", name + ".sub", inputs: [ins[0], name + ".mean"], outputs: [centred])
                self.node("Div", name + ".div", inputs: [centred, name + ".std"], outputs: [out])
            case let .conv(c):
                let layer = q.layers[index]!, input = q.activations[node.inputs[0]]
                let (w, b) = quantizedParameters(name, layer, shape: c.weightShape, input: input)
                var source = ins[0], pads = c.padding
                if let pad = layer.padValue {
                    // The border value is on the input's grid, so padding keeps the tensor on it.
                    source = padded(source, name: name, padding: c.padding, values: pad.map { input.dequantize($0) })
                    pads = 0
                }
                let convOut = c.relu ? fresh(name) : out
                self.node("Conv", name, inputs: [source, w, b], outputs: [convOut], [
                    .ints("kernel_shape", [c.kernel, c.kernel]), .ints("strides", [c.stride, c.stride]),
                    .ints("pads", [pads, pads, pads, pads]), .int("group", c.groups),
                ])
                if c.relu { self.node("Relu", name + ".relu", inputs: [convOut], outputs: [out]) }
            case let .slice(lower, upper):
                int64Tensor(name + ".starts", [lower])
                int64Tensor(name + ".ends", [upper])
                int64Tensor(name + ".axes", [1])
                self.node("Slice", name, inputs: [ins[0], name + ".starts", name + ".ends", name + ".axes"], outputs: [out])
            case .concat:
                self.node("Concat", name, inputs: ins, outputs: [out], [.int("axis", 1)])
            case .interleave:
                let half = node.channels / 2
                let joined = fresh(name), grouped = fresh(name), swapped = fresh(name)
                int64Tensor(name + ".grouped", [0, 2, half, -1])
                int64Tensor(name + ".merged", [0, node.channels, node.size, node.size])
                self.node("Concat", name + ".concat", inputs: ins, outputs: [joined], [.int("axis", 1)])
                self.node("Reshape", name + ".group", inputs: [joined, name + ".grouped"], outputs: [grouped])
                self.node("Transpose", name + ".transpose", inputs: [grouped], outputs: [swapped], [.ints("perm", [0, 2, 1, 3])])
                self.node("Reshape", name + ".merge", inputs: [swapped, name + ".merged"], outputs: [out])
            case .add:
                self.node("Add", name, inputs: ins, outputs: [out])
            case .relu:
                self.node("Relu", name, inputs: ins, outputs: [out])
            case .globalAveragePool:
                let pooled = fresh(name)
                self.node("GlobalAveragePool", name, inputs: ins, outputs: [pooled])
                self.node("Flatten", name + ".flatten", inputs: [pooled], outputs: [out], [.int("axis", 1)])
            case let .linear(_, _, o, i):
                let (w, b) = quantizedParameters(name, q.layers[index]!, shape: [o, i], input: q.activations[node.inputs[0]])
                self.node("Gemm", name, inputs: [ins[0], w, b], outputs: [out], [.int("transB", 1)])
            }
            if !last { requantize(out, id: id, q.activations[id]) }
        }
        graph.string(2, "pare-int8")
        valueInfo(11, "input", ["N", g.inputShape[0], g.inputShape[1], g.inputShape[2]])
        valueInfo(12, "logits", ["N", g.classes])
    }
}
