import CDNNL
import Networks

public enum DNNLError: Error, CustomStringConvertible {
    case unavailable
    case primitive(node: String, status: Int32)

    public var description: String {
        switch self {
        case .unavailable: return "oneDNN: no CPU engine (is libdnnl installed? scripts/setup.sh installs libdnnl-dev)"
        case let .primitive(node, status): return "oneDNN: cannot build or run the int8 convolution '\(node)' (status \(status))"
        }
    }
}

/// The int8 model on oneDNN: activations stay uint8 NHWC from the first convolution to the
/// pooling, each convolution one oneDNN primitive (VNNI kernels where the CPU has them) with the
/// requantization, ReLU and zero point fused; channel moves, additions, pooling and the
/// classifier in Swift with the reference's formulas. Equals `IntegerExecutor` exactly.
/// Primitives are built per batch size on first use. oneDNN runs on its own OpenMP threads
/// (OMP_NUM_THREADS); call it from one thread at a time.
public final class DNNLExecutor {
    public let model: QuantizedGraph
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    /// Per convolution node: the bias with the input zero point folded in (Σ w · z_in subtracted).
    var biases: [Int: UnsafeMutableBufferPointer<Int32>] = [:]
    /// Per batch size, per convolution node.
    var primitives: [Int: [Int: UnsafeMutablePointer<pare_dnnl_conv>]] = [:]
    /// Grid moves as lookup tables (a uint8 input has 256 values; an addition 256 × 256 pairs),
    /// filled with the reference's own formulas, so they are exact by construction.
    var regrids: [Int: [Int: [UInt8]]] = [:]
    var additions: [Int: [UInt8]] = [:]

    public init(_ model: QuantizedGraph) throws {
        self.model = model
        guard let e = pare_dnnl_engine() else { throw DNNLError.unavailable }
        guard let s = pare_dnnl_stream(e) else { dnnl_engine_destroy(e); throw DNNLError.unavailable }
        engine = e
        stream = s
        for (index, layer) in model.layers {
            guard case let .conv(c) = model.graph.nodes[index].op else { continue }
            let zIn = model.activations[model.graph.nodes[index].inputs[0]].zeroPoint
            let per = layer.weights.values.count / c.outputChannels
            let buffer = UnsafeMutableBufferPointer<Int32>.allocate(capacity: c.outputChannels)
            for o in 0..<c.outputChannels {
                var sum: Int32 = 0
                for k in 0..<per { sum &+= Int32(layer.weights.values[o * per + k]) }
                buffer[o] = layer.bias[o] &- zIn &* sum
            }
            biases[index] = buffer
        }
        let all = (0...255).map { UInt8($0) }
        for (index, node) in model.graph.nodes.enumerated() where index + 1 < model.graph.output {
            let out = model.activations[index + 1]
            switch node.op {
            case .concat, .interleave:
                for v in node.inputs where model.activations[v] != out {
                    regrids[index, default: [:]][v] = IntegerExecutor.regrid(all, from: model.activations[v], to: out)
                }
            case .add:
                let a = all.flatMap { [UInt8](repeating: $0, count: 256) }, b = (0..<256).flatMap { _ in all }
                additions[index] = IntegerExecutor.add(a, model.activations[node.inputs[0]], b, model.activations[node.inputs[1]], out)
            default:
                break
            }
        }
    }

    func regrid(_ x: [UInt8], node: Int, input: Int) -> [UInt8] {
        guard let table = regrids[node]?[input] else { return x }
        return table.withUnsafeBufferPointer { t in x.map { t[Int($0)] } }
    }

    deinit {
        for (_, nodes) in primitives { for (_, p) in nodes { pare_dnnl_conv_destroy(p); p.deallocate() } }
        for (_, b) in biases { b.deallocate() }
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// A convolution reads its input directly unless its border is not the input's zero (a
    /// non-zero zero point, a folded normalization's mean): then from a copy padded by hand.
    func explicitPadding(_ index: Int, _ c: InferenceGraph.Conv) -> Bool {
        c.padding > 0 && (model.layers[index]!.padValue != nil || model.activations[model.graph.nodes[index].inputs[0]].zeroPoint != 0)
    }

    func primitive(_ index: Int, batch n: Int) throws -> UnsafeMutablePointer<pare_dnnl_conv> {
        if let p = primitives[n]?[index] { return p }
        let node = model.graph.nodes[index]
        guard case let .conv(c) = node.op else { preconditionFailure("node \(index) is not a convolution") }
        let layer = model.layers[index]!
        let input = model.activations[node.inputs[0]], output = model.activations[index + 1]
        let size = model.graph.size(of: node.inputs[0])
        let manual = explicitPadding(index, c)
        let scales = layer.weights.scales.map { input.scale * $0 / output.scale }
        let p = UnsafeMutablePointer<pare_dnnl_conv>.allocate(capacity: 1)
        let status = layer.weights.values.withUnsafeBufferPointer { w in
            pare_dnnl_conv_create(p, engine, stream, Int64(n), Int64(c.inputChannels), Int64(size + (manual ? 2 * c.padding : 0)),
                                  Int64(c.outputChannels), Int64(node.size), Int64(c.kernel), Int64(c.stride), Int64(manual ? 0 : c.padding),
                                  Int64(c.groups), w.baseAddress, biases[index]!.baseAddress, scales, c.relu ? 1 : 0, Float(output.zeroPoint))
        }
        guard status == 0 else { p.deallocate(); throw DNNLError.primitive(node: node.name, status: status) }
        primitives[n, default: [:]][index] = p
        return p
    }

    /// Which oneDNN kernel runs each convolution at batch `n` (node name → implementation).
    public func implementations(batch n: Int) throws -> [(node: String, implementation: String)] {
        try model.layers.keys.sorted().compactMap { index in
            guard case .conv = model.graph.nodes[index].op else { return nil }
            return (model.graph.nodes[index].name, String(cString: pare_dnnl_conv_implementation(try primitive(index, batch: n))))
        }
    }

    /// Float logits [n, classes] of uint8 NCHW images on the input's grid. `visit` sees every
    /// quantized value in NCHW, as `IntegerExecutor.run` shows them (for tests; it transposes).
    public func run(_ pixels: [UInt8], batch n: Int, visit: ((Int, [UInt8]) -> Void)? = nil) throws -> [Float] {
        let g = model.graph
        let lastUse = g.lastUses
        var values = [[UInt8]?](repeating: nil, count: g.nodes.count)
        values[0] = Self.nhwc(pixels, batch: n, channels: g.inputShape[0], plane: g.inputShape[1] * g.inputShape[1])
        visit?(0, pixels)
        var logits = [Float]()
        for (index, node) in g.nodes.enumerated() {
            let x = values[node.inputs[0]]!
            let inQ = model.activations[node.inputs[0]]
            let cin = g.channels(of: node.inputs[0]), s = g.size(of: node.inputs[0]), plane = s * s
            let outQ = index + 1 < g.output ? model.activations[index + 1] : inQ
            var y: [UInt8]
            switch node.op {
            case let .normalize(mean, std):
                y = x
                for k in y.indices {
                    let c = k % cin
                    y[k] = UInt8(outQ.quantize((inQ.dequantize(Int32(x[k])) - mean[c]) / std[c]))
                }
            case let .conv(c):
                let p = try primitive(index, batch: n)
                var source = x
                if explicitPadding(index, c) {
                    let border = model.layers[index]!.padValue.map { $0.map(UInt8.init) } ?? [UInt8](repeating: UInt8(inQ.zeroPoint), count: cin)
                    source = Self.padded(x, batch: n, channels: cin, size: s, padding: c.padding, border: border)
                }
                y = [UInt8](repeating: 0, count: n * c.outputChannels * node.size * node.size)
                let status = source.withUnsafeBufferPointer { src in
                    y.withUnsafeMutableBufferPointer { dst in pare_dnnl_conv_run(p, stream, src.baseAddress, dst.baseAddress) }
                }
                guard status == 0 else { throw DNNLError.primitive(node: node.name, status: status) }
            case let .slice(lower, upper):
                y = Pixels.slice(x, pixels: n * plane, channels: cin, lower: lower, upper: upper)
            case .concat:
                y = Pixels.concat(node.inputs.map { (regrid(values[$0]!, node: index, input: $0), g.channels(of: $0)) }, pixels: n * plane)
            case .interleave:
                let a = regrid(x, node: index, input: node.inputs[0]), b = regrid(values[node.inputs[1]]!, node: index, input: node.inputs[1])
                y = Pixels.interleave(a, b, pixels: n * plane, half: cin)
            case .add:
                let b = values[node.inputs[1]]!
                y = additions[index]!.withUnsafeBufferPointer { t in
                    [UInt8](unsafeUninitializedCapacity: x.count) { out, count in
                        for k in 0..<x.count { out[k] = t[Int(x[k]) << 8 | Int(b[k])] }
                        count = x.count
                    }
                }
            case .relu:
                let z = UInt8(inQ.zeroPoint)
                y = x.map { max($0, z) }
            case .globalAveragePool:
                y = IntegerExecutor.pool(Pixels.channelSums(x, batch: n, plane: plane, channels: cin), plane: plane, inQ, outQ)
            case .linear:
                logits = IntegerExecutor.classify(x, batch: n, layer: model.layers[index]!, node: node, input: inQ)
                y = []
            }
            if index + 1 < g.output {
                values[index + 1] = y
                if let visit { visit(index + 1, node.size == 1 ? y : Self.nchw(y, batch: n, channels: node.channels, plane: node.size * node.size)) }
            }
            for v in Set(node.inputs) where lastUse[v] == index { values[v] = nil }
        }
        return logits
    }

    static func nhwc(_ x: [UInt8], batch n: Int, channels c: Int, plane: Int) -> [UInt8] {
        if c == 1 { return x }
        var y = x
        for i in 0..<n { for ch in 0..<c { for p in 0..<plane { y[(i * plane + p) * c + ch] = x[(i * c + ch) * plane + p] } } }
        return y
    }

    static func nchw(_ x: [UInt8], batch n: Int, channels c: Int, plane: Int) -> [UInt8] {
        var y = x
        for i in 0..<n { for ch in 0..<c { for p in 0..<plane { y[(i * c + ch) * plane + p] = x[(i * plane + p) * c + ch] } } }
        return y
    }

    /// NHWC `x` inside a border of `padding` pixels holding `border[c]`.
    static func padded(_ x: [UInt8], batch n: Int, channels c: Int, size s: Int, padding p: Int, border: [UInt8]) -> [UInt8] {
        let t = s + 2 * p
        var y = [UInt8](repeating: 0, count: n * t * t * c)
        for i in 0..<n { for r in 0..<t { for col in 0..<t {
            let dst = ((i * t + r) * t + col) * c
            let inside = r >= p && r < s + p && col >= p && col < s + p
            if inside {
                let src = ((i * s + r - p) * s + col - p) * c
                for ch in 0..<c { y[dst + ch] = x[src + ch] }
            } else {
                for ch in 0..<c { y[dst + ch] = border[ch] }
            }
        } } }
        return y
    }
}

/// Channel moves on NHWC uint8 tensors: every pixel's channels are contiguous.
enum Pixels {
    static func slice(_ x: [UInt8], pixels: Int, channels c: Int, lower: Int, upper: Int) -> [UInt8] {
        let w = upper - lower
        return [UInt8](unsafeUninitializedCapacity: pixels * w) { y, count in
            x.withUnsafeBufferPointer { src in
                for p in 0..<pixels { (y.baseAddress! + p * w).initialize(from: src.baseAddress! + p * c + lower, count: w) }
            }
            count = pixels * w
        }
    }

    static func concat(_ parts: [([UInt8], Int)], pixels: Int) -> [UInt8] {
        let total = parts.reduce(0) { $0 + $1.1 }
        var y = [UInt8](repeating: 0, count: pixels * total)
        y.withUnsafeMutableBufferPointer { dst in
            var offset = 0
            for (part, c) in parts {
                part.withUnsafeBufferPointer { src in
                    for p in 0..<pixels { (dst.baseAddress! + p * total + offset).update(from: src.baseAddress! + p * c, count: c) }
                }
                offset += c
            }
        }
        return y
    }

    /// y[2j] = a[j], y[2j + 1] = b[j] within each pixel.
    static func interleave(_ a: [UInt8], _ b: [UInt8], pixels: Int, half: Int) -> [UInt8] {
        var y = [UInt8](repeating: 0, count: 2 * pixels * half)
        y.withUnsafeMutableBufferPointer { dst in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    let d = dst.baseAddress!, sa = pa.baseAddress!, sb = pb.baseAddress!
                    for k in 0..<(pixels * half) {
                        d[2 * k] = sa[k]
                        d[2 * k + 1] = sb[k]
                    }
                }
            }
        }
        return y
    }

    static func channelSums(_ x: [UInt8], batch n: Int, plane: Int, channels c: Int) -> [Int32] {
        var sums = [Int32](repeating: 0, count: n * c)
        sums.withUnsafeMutableBufferPointer { s in
            x.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    let out = s.baseAddress! + i * c
                    for p in 0..<plane {
                        let row = src.baseAddress! + (i * plane + p) * c
                        for ch in 0..<c { out[ch] &+= Int32(row[ch]) }
                    }
                }
            }
        }
        return sums
    }
}
