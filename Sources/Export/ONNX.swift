import Foundation
import Networks

/// ONNX (opset 13, IR version 7) of an inference graph. Input "input": float NCHW images
/// scaled to [0, 1] (pixel / 255), batch dimension symbolic; output "logits" [N, classes].
/// Every BN is folded into its convolution; the input normalization is either the first two
/// nodes or (a graph that folded it) inside the first convolution, whose border is then padded
/// with the mean.
public enum ONNXExport {
    public static let opset = 13
    static let irVersion = 7

    // onnx.proto field numbers and enums.
    enum DataType { static let float = 1, uint8 = 2, int8 = 3, int32 = 6, int64 = 7 }
    enum AttributeType { static let int = 2, ints = 7 }

    public static func encode(_ g: InferenceGraph, producerVersion: String) -> Data {
        model(producerVersion: producerVersion) { $0.build(g) }
    }

    /// A ModelProto around the graph `build` writes.
    static func model(producerVersion: String, _ build: (inout GraphBuilder) -> Void) -> Data {
        var model = ProtoWriter()
        model.int(1, irVersion)
        model.string(2, "pare")
        model.string(3, producerVersion)
        model.message(7) { graph in
            var b = GraphBuilder()
            build(&b)
            graph.bytes = b.graph.bytes
        }
        model.message(8) { op in
            op.string(1, "")
            op.int(2, opset)
        }
        return Data(model.bytes)
    }

    /// Writes nodes and initializers into a GraphProto body as it walks the graph.
    struct GraphBuilder {
        var graph = ProtoWriter()
        var counter = 0

        func value(_ id: Int, _ g: InferenceGraph) -> String {
            id == 0 ? "input" : (id == g.output ? "logits" : "v\(id)")
        }

        mutating func fresh(_ base: String) -> String {
            counter += 1
            return "\(base)_\(counter)"
        }

        mutating func floatTensor(_ name: String, _ dims: [Int], _ values: [Float]) {
            rawTensor(name, dims, DataType.float, values)
        }

        /// An initializer of any element type, its values as raw little-endian bytes.
        mutating func rawTensor<T>(_ name: String, _ dims: [Int], _ type: Int, _ values: [T]) {
            graph.message(5) { t in
                t.packedInts(1, dims)
                t.int(2, type)
                t.string(8, name)
                t.bytes(9, values.withUnsafeBytes { Array($0) })
            }
        }

        mutating func int64Tensor(_ name: String, _ values: [Int]) {
            graph.message(5) { t in
                t.packedInts(1, [values.count])
                t.int(2, DataType.int64)
                t.string(8, name)
                t.bytes(9, values.map { Int64($0).littleEndian }.withUnsafeBytes { Array($0) })
            }
        }

        enum Attribute {
            case int(String, Int)
            case ints(String, [Int])
        }

        mutating func node(_ op: String, _ name: String, inputs: [String], outputs: [String], _ attributes: [Attribute] = []) {
            graph.message(1) { n in
                for i in inputs { n.string(1, i) }
                for o in outputs { n.string(2, o) }
                n.string(3, name)
                n.string(4, op)
                for a in attributes {
                    n.message(5) { at in
                        switch a {
                        case let .int(key, v):
                            at.string(1, key); at.int(20, AttributeType.int); at.int(3, v)
                        case let .ints(key, vs):
                            at.string(1, key); at.int(20, AttributeType.ints)
                            for v in vs { at.int(8, v) }
                        }
                    }
                }
            }
        }

        mutating func valueInfo(_ field: Int, _ name: String, _ dims: [Any]) {
            graph.message(field) { v in
                v.string(1, name)
                v.message(2) { type in
                    type.message(1) { tensor in
                        tensor.int(1, DataType.float)
                        tensor.message(2) { shape in
                            for d in dims {
                                shape.message(1) { dim in
                                    if let n = d as? Int { dim.int(1, n) } else { dim.string(2, "\(d)") }
                                }
                            }
                        }
                    }
                }
            }
        }

        /// `input` padded by `padding` on each side with `values[c]` in channel c: one Pad with
        /// a constant when the values agree, else (x − v) padded with 0, plus v.
        mutating func padded(_ input: String, name: String, padding p: Int, values: [Float]) -> String {
            int64Tensor(name + ".pads", [0, 0, p, p, 0, 0, p, p])
            let out = fresh(name + ".padded")
            if values.allSatisfy({ $0 == values[0] }) {
                floatTensor(name + ".pad_value", [], [values[0]])
                node("Pad", name + ".pad", inputs: [input, name + ".pads", name + ".pad_value"], outputs: [out])
                return out
            }
            floatTensor(name + ".pad_value", [1, values.count, 1, 1], values)
            let centred = fresh(name), zeroPadded = fresh(name)
            node("Sub", name + ".pad_sub", inputs: [input, name + ".pad_value"], outputs: [centred])
            node("Pad", name + ".pad", inputs: [centred, name + ".pads"], outputs: [zeroPadded])
            node("Add", name + ".pad_add", inputs: [zeroPadded, name + ".pad_value"], outputs: [out])
            return out
        }

        /// (x − mean) / std per channel.
        mutating func normalize(_ name: String, mean: [Float], std: [Float], input: String, output: String) {
            let c = mean.count
            floatTensor(name + ".mean", [1, c, 1, 1], mean)
            floatTensor(name + ".std", [1, c, 1, 1], std)
            let centred = fresh(name)
            node("Sub", name + ".sub", inputs: [input, name + ".mean"], outputs: [centred])
            node("Div", name + ".div", inputs: [centred, name + ".std"], outputs: [output])
        }

        /// A convolution reading `weight` and `bias` (initializers or dequantized values), its
        /// border padded by hand when it is not zero, its ReLU after it.
        mutating func conv(_ name: String, _ c: InferenceGraph.Conv, input: String, weight: String, bias: String, padValues: [Float]?,
                           output: String) {
            let convOut = c.relu ? fresh(name) : output
            var source = input, pads = c.padding
            if let padValues {
                source = padded(source, name: name, padding: c.padding, values: padValues)
                pads = 0
            }
            node("Conv", name, inputs: [source, weight, bias], outputs: [convOut], [
                .ints("kernel_shape", [c.kernel, c.kernel]), .ints("strides", [c.stride, c.stride]),
                .ints("pads", [pads, pads, pads, pads]), .int("group", c.groups),
            ])
            if c.relu { node("Relu", name + ".relu", inputs: [convOut], outputs: [output]) }
        }

        /// The nodes that move or combine values: slice, concatenation, shuffle, sum, ReLU, pooling.
        mutating func move(_ n: InferenceGraph.Node, inputs ins: [String], output out: String) {
            let name = n.name
            switch n.op {
            case let .slice(lower, upper):
                int64Tensor(name + ".starts", [lower])
                int64Tensor(name + ".ends", [upper])
                int64Tensor(name + ".axes", [1])
                node("Slice", name, inputs: [ins[0], name + ".starts", name + ".ends", name + ".axes"], outputs: [out])
            case .concat:
                node("Concat", name, inputs: ins, outputs: [out], [.int("axis", 1)])
            case .interleave:
                // concat(a, b) -> [N, 2, C/2, H*W] -> swap axes 1, 2 -> [N, C, H, W].
                let half = n.channels / 2
                let joined = fresh(name), grouped = fresh(name), swapped = fresh(name)
                int64Tensor(name + ".grouped", [0, 2, half, -1])
                int64Tensor(name + ".merged", [0, n.channels, n.size, n.size])
                node("Concat", name + ".concat", inputs: ins, outputs: [joined], [.int("axis", 1)])
                node("Reshape", name + ".group", inputs: [joined, name + ".grouped"], outputs: [grouped])
                node("Transpose", name + ".transpose", inputs: [grouped], outputs: [swapped], [.ints("perm", [0, 2, 1, 3])])
                node("Reshape", name + ".merge", inputs: [swapped, name + ".merged"], outputs: [out])
            case .add:
                node("Add", name, inputs: ins, outputs: [out])
            case .relu:
                node("Relu", name, inputs: ins, outputs: [out])
            case .globalAveragePool:
                let pooled = fresh(name)
                node("GlobalAveragePool", name, inputs: ins, outputs: [pooled])
                node("Flatten", name + ".flatten", inputs: [pooled], outputs: [out], [.int("axis", 1)])
            case .normalize, .conv, .linear:
                preconditionFailure("\(name): not a moving node")
            }
        }

        mutating func build(_ g: InferenceGraph) {
            for (index, node) in g.nodes.enumerated() {
                let id = index + 1
                let ins = node.inputs.map { value($0, g) }
                let out = value(id, g)
                let name = node.name
                switch node.op {
                case let .normalize(mean, std):
                    normalize(name, mean: mean, std: std, input: ins[0], output: out)
                case let .conv(c):
                    floatTensor(name + ".weight", c.weightShape, c.weight)
                    floatTensor(name + ".bias", [c.outputChannels], c.bias)
                    conv(name, c, input: ins[0], weight: name + ".weight", bias: name + ".bias", padValues: c.padValue, output: out)
                case let .linear(w, b, o, i):
                    floatTensor(name + ".weight", [o, i], w)
                    floatTensor(name + ".bias", [o], b)
                    self.node("Gemm", name, inputs: [ins[0], name + ".weight", name + ".bias"], outputs: [out], [.int("transB", 1)])
                default:
                    move(node, inputs: ins, output: out)
                }
            }
            graph.string(2, "pare")
            valueInfo(11, "input", ["N", g.inputShape[0], g.inputShape[1], g.inputShape[2]])
            valueInfo(12, "logits", ["N", g.classes])
        }
    }
}
