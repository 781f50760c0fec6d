import CDNNL
import Networks

/// The float inference graph on oneDNN, NHWC float32 from the input to the pooling: each
/// convolution one oneDNN primitive (BN folded, ReLU fused), channel moves, additions, pooling
/// and the classifier in Swift. What oneDNN's float kernels give when activations stay in a
/// layout they like — the float baseline of the int8 path (`pare bench --int8`) and
/// `pare eval --engine onednn`. Primitives and buffers per batch size; one caller at a time.
public final class DNNLFloatExecutor {
    public let graph: InferenceGraph
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    var weights: [Int: UnsafeMutableBufferPointer<Float>] = [:]
    var biases: [Int: UnsafeMutableBufferPointer<Float>] = [:]
    var primitives: [Int: [Int: UnsafeMutablePointer<pare_dnnl_conv>]] = [:]
    var buffers: [Int: [UnsafeMutableBufferPointer<Float>]] = [:]
    var padded: [Int: UnsafeMutableBufferPointer<Float>] = [:]

    public init(_ graph: InferenceGraph, threads: Int? = nil) throws {
        self.graph = graph
        (engine, stream) = try DNNLError.open(threads: threads)
        for (index, node) in graph.nodes.enumerated() {
            guard case let .conv(c) = node.op else { continue }
            let w = UnsafeMutableBufferPointer<Float>.allocate(capacity: c.weight.count)
            _ = w.initialize(from: c.weight)
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: c.bias.count)
            _ = b.initialize(from: c.bias)
            weights[index] = w
            biases[index] = b
        }
    }

    deinit {
        for (_, nodes) in primitives { for (_, p) in nodes { pare_dnnl_conv_destroy(p); p.deallocate() } }
        for (_, list) in buffers { for b in list { b.deallocate() } }
        for (_, b) in padded { b.deallocate() }
        for (_, b) in weights { b.deallocate() }
        for (_, b) in biases { b.deallocate() }
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    func primitive(_ index: Int, batch n: Int) throws -> UnsafeMutablePointer<pare_dnnl_conv> {
        if let p = primitives[n]?[index] { return p }
        let node = graph.nodes[index]
        guard case let .conv(c) = node.op else { preconditionFailure("node \(index) is not a convolution") }
        let manual = c.padValue != nil && c.padding > 0
        let p = UnsafeMutablePointer<pare_dnnl_conv>.allocate(capacity: 1)
        let status = pare_dnnl_conv_create(p, engine, stream, Int64(n), Int64(c.inputChannels),
                                           Int64(graph.size(of: node.inputs[0]) + (manual ? 2 * c.padding : 0)), Int64(c.outputChannels),
                                           Int64(node.size), Int64(c.kernel), Int64(c.stride), Int64(manual ? 0 : c.padding), Int64(c.groups),
                                           weights[index]!.baseAddress, biases[index]!.baseAddress, nil, c.relu ? 1 : 0, 0, 0)
        guard status == 0 else { p.deallocate(); throw DNNLError.primitive(node: node.name, status: status) }
        primitives[n, default: [:]][index] = p
        return p
    }

    func values(batch n: Int) -> [UnsafeMutableBufferPointer<Float>] {
        if let b = buffers[n] { return b }
        let b = (0..<graph.nodes.count).map { id in
            UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, n * graph.channels(of: id) * graph.size(of: id) * graph.size(of: id)))
        }
        buffers[n] = b
        return b
    }

    /// Logits [n, classes] of raw images (pixel / 255), NCHW (with `nhwcInput`, already NHWC:
    /// a layer's input, for latency tables).
    public func run(_ input: [Float], batch n: Int, nhwcInput: Bool = false) throws -> [Float] {
        let g = graph
        let v = values(batch: n)
        let c0 = g.inputShape[0], plane0 = g.inputShape[1] * g.inputShape[1]
        if nhwcInput || c0 == 1 {
            _ = UnsafeMutableBufferPointer(rebasing: v[0][0..<(n * c0 * plane0)]).update(fromContentsOf: input.prefix(n * c0 * plane0))
        } else {
            for i in 0..<n { for ch in 0..<c0 { for p in 0..<plane0 { v[0][(i * plane0 + p) * c0 + ch] = input[(i * c0 + ch) * plane0 + p] } } }
        }
        var logits = [Float]()
        for (index, node) in g.nodes.enumerated() {
            let x = UnsafePointer(v[node.inputs[0]].baseAddress!)
            let cin = g.channels(of: node.inputs[0]), s = g.size(of: node.inputs[0]), plane = s * s, pixels = n * plane
            let y = index + 1 < g.output ? v[index + 1].baseAddress! : nil
            switch node.op {
            case let .normalize(mean, std):
                for k in 0..<(pixels * cin) { y![k] = (x[k] - mean[k % cin]) / std[k % cin] }
            case let .conv(c):
                var source = x
                if let border = c.padValue, c.padding > 0 {
                    let t = s + 2 * c.padding
                    if (padded[index]?.count ?? 0) < n * t * t * cin {
                        padded[index]?.deallocate()
                        padded[index] = .allocate(capacity: n * t * t * cin)
                    }
                    let dst = padded[index]!.baseAddress!
                    for i in 0..<n { for r in 0..<t { for col in 0..<t {
                        let out = dst + ((i * t + r) * t + col) * cin
                        let p = c.padding
                        if r >= p && r < s + p && col >= p && col < s + p {
                            out.update(from: x + ((i * s + r - p) * s + col - p) * cin, count: cin)
                        } else {
                            for ch in 0..<cin { out[ch] = border[ch] }
                        }
                    } } }
                    source = UnsafePointer(dst)
                }
                let status = pare_dnnl_conv_run(try primitive(index, batch: n), stream, source, y)
                guard status == 0 else { throw DNNLError.primitive(node: node.name, status: status) }
            case let .slice(lower, upper):
                let w = upper - lower
                for p in 0..<pixels { (y! + p * w).update(from: x + p * cin + lower, count: w) }
            case .concat:
                let total = node.channels
                var offset = 0
                for id in node.inputs {
                    let c = g.channels(of: id), src = v[id].baseAddress!
                    for p in 0..<pixels { (y! + p * total + offset).update(from: src + p * c, count: c) }
                    offset += c
                }
            case .interleave:
                let b = v[node.inputs[1]].baseAddress!
                for k in 0..<(pixels * cin) { y![2 * k] = x[k]; y![2 * k + 1] = b[k] }
            case .add:
                let b = v[node.inputs[1]].baseAddress!
                for k in 0..<(pixels * cin) { y![k] = x[k] + b[k] }
            case .relu:
                for k in 0..<(pixels * cin) { y![k] = max(x[k], 0) }
            case .globalAveragePool:
                for k in 0..<(n * cin) { y![k] = 0 }
                for i in 0..<n { for p in 0..<plane { for ch in 0..<cin { y![i * cin + ch] += x[(i * plane + p) * cin + ch] } } }
                for k in 0..<(n * cin) { y![k] /= Float(plane) }
            case let .linear(w, b, outputs, inputs):
                logits = FloatExecutor.linear(w, b, outputs: outputs, inputs: inputs, x, batch: n)
            }
        }
        return logits
    }
}
