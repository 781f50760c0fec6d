import CDNNL
import Networks

public enum DNNLError: Error, CustomStringConvertible {
    /// A CPU engine and its stream, oneDNN's OpenMP threads set first when given.
    static func open(threads: Int?) throws -> (dnnl_engine_t, dnnl_stream_t) {
        if let threads { pare_dnnl_set_threads(Int32(threads)) }
        guard let e = pare_dnnl_engine() else { throw DNNLError.unavailable }
        guard let s = pare_dnnl_stream(e) else { dnnl_engine_destroy(e); throw DNNLError.unavailable }
        return (e, s)
    }

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
    var relus: [Int: [UInt8]] = [:]

    public init(_ model: QuantizedGraph, threads: Int? = nil) throws {
        self.model = model
        (engine, stream) = try DNNLError.open(threads: threads)
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
            case .relu:
                relus[index] = IntegerExecutor.relu(all, from: model.activations[node.inputs[0]], to: out)
            case .add:
                let a = all.flatMap { [UInt8](repeating: $0, count: 256) }, b = (0..<256).flatMap { _ in all }
                additions[index] = IntegerExecutor.add(a, model.activations[node.inputs[0]], b, model.activations[node.inputs[1]], out)
            default:
                break
            }
        }
    }


    deinit {
        workspaces = [:]
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
                                  Int64(c.groups), w.baseAddress, biases[index]!.baseAddress, scales, c.relu ? 1 : 0, Float(output.zeroPoint), 1)
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
    /// With `nhwcInput`, `pixels` is already NHWC (a layer's input, for latency tables).
    public func run(_ pixels: [UInt8], batch n: Int, nhwcInput: Bool = false, visit: ((Int, [UInt8]) -> Void)? = nil) throws -> [Float] {
        let g = model.graph
        let w = workspace(batch: n)
        let plane0 = g.inputShape[1] * g.inputShape[1], c0 = g.inputShape[0]
        pixels.withUnsafeBufferPointer { src in
            let dst = w.values[0].baseAddress!
            if nhwcInput || c0 == 1 {
                dst.update(from: src.baseAddress!, count: n * c0 * plane0)
            } else {
                for i in 0..<n { for ch in 0..<c0 { for p in 0..<plane0 { dst[(i * plane0 + p) * c0 + ch] = src[(i * c0 + ch) * plane0 + p] } } }
            }
        }
        visit?(0, pixels)
        var logits = [Float]()
        for (index, node) in g.nodes.enumerated() {
            let x = UnsafePointer(w.values[node.inputs[0]].baseAddress!)
            let inQ = model.activations[node.inputs[0]]
            let cin = g.channels(of: node.inputs[0]), s = g.size(of: node.inputs[0]), plane = s * s, pixelsIn = n * plane
            let outQ = index + 1 < g.output ? model.activations[index + 1] : inQ
            let y = index + 1 < g.output ? w.values[index + 1].baseAddress! : nil
            switch node.op {
            case let .normalize(mean, std):
                for k in 0..<(pixelsIn * cin) {
                    let c = k % cin
                    y![k] = UInt8(outQ.quantize((inQ.dequantize(Int32(x[k])) - mean[c]) / std[c]))
                }
            case let .conv(c):
                let p = try primitive(index, batch: n)
                var source = x
                if explicitPadding(index, c) {
                    let border = model.layers[index]!.padValue.map { $0.map(UInt8.init) } ?? [UInt8](repeating: UInt8(inQ.zeroPoint), count: cin)
                    let t = s + 2 * c.padding
                    let padded = w.scratch(index, 0, n * t * t * cin)
                    Pixels.pad(x, into: padded, batch: n, channels: cin, size: s, padding: c.padding, border: border)
                    source = UnsafePointer(padded)
                }
                let status = pare_dnnl_conv_run(p, stream, source, y)
                guard status == 0 else { throw DNNLError.primitive(node: node.name, status: status) }
            case let .slice(lower, upper):
                Pixels.slice(x, into: y!, pixels: pixelsIn, channels: cin, lower: lower, upper: upper)
            case .concat, .interleave:
                // Grid moves fused into the copy: each part read through its table, if it has one.
                let parts = node.inputs.map { v in (UnsafePointer(w.values[v].baseAddress!), g.channels(of: v), regrids[index]?[v]) }
                if case .concat = node.op {
                    Pixels.concat(parts, into: y!, pixels: pixelsIn)
                } else {
                    Pixels.interleave(parts[0], parts[1], into: y!, pixels: pixelsIn, half: cin)
                }
            case .add:
                let b = w.values[node.inputs[1]].baseAddress!
                additions[index]!.withUnsafeBufferPointer { t in
                    for k in 0..<(pixelsIn * cin) { y![k] = t[Int(x[k]) << 8 | Int(b[k])] }
                }
            case .relu:
                relus[index]!.withUnsafeBufferPointer { t in
                    for k in 0..<(pixelsIn * cin) { y![k] = t[Int(x[k])] }
                }
            case .globalAveragePool:
                let pooled = IntegerExecutor.pool(Pixels.channelSums(x, batch: n, plane: plane, channels: cin), plane: plane, inQ, outQ)
                y!.update(from: pooled, count: pooled.count)
            case .linear:
                logits = IntegerExecutor.classify(Array(UnsafeBufferPointer(start: x, count: n * cin)), batch: n, layer: model.layers[index]!,
                                                  node: node, input: inQ)
            }
            if let visit, index + 1 < g.output {
                let v = Array(w.values[index + 1])
                visit(index + 1, node.size == 1 ? v : Self.nchw(v, batch: n, channels: node.channels, plane: node.size * node.size))
            }
        }
        return logits
    }

    /// Buffers of one batch size, kept across runs: every value's NHWC tensor and the scratch
    /// of padding and grid moves (fresh allocations each run cost page faults, not arithmetic).
    final class Workspace {
        let values: [UnsafeMutableBufferPointer<UInt8>]
        var scratchBuffers: [Int: UnsafeMutableBufferPointer<UInt8>] = [:]

        init(sizes: [Int]) { values = sizes.map { UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max($0, 1)) } }

        func scratch(_ node: Int, _ slot: Int, _ count: Int) -> UnsafeMutablePointer<UInt8> {
            let key = node * 8 + slot
            if let b = scratchBuffers[key], b.count >= count { return b.baseAddress! }
            scratchBuffers[key]?.deallocate()
            let b = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: count)
            scratchBuffers[key] = b
            return b.baseAddress!
        }

        deinit {
            for v in values { v.deallocate() }
            for (_, b) in scratchBuffers { b.deallocate() }
        }
    }

    var workspaces: [Int: Workspace] = [:]

    func workspace(batch n: Int) -> Workspace {
        if let w = workspaces[n] { return w }
        let g = model.graph
        let w = Workspace(sizes: (0..<g.nodes.count).map { n * g.channels(of: $0) * g.size(of: $0) * g.size(of: $0) })
        workspaces[n] = w
        return w
    }

    static func nchw(_ x: [UInt8], batch n: Int, channels c: Int, plane: Int) -> [UInt8] {
        var y = x
        for i in 0..<n { for ch in 0..<c { for p in 0..<plane { y[(i * c + ch) * plane + p] = x[(i * plane + p) * c + ch] } } }
        return y
    }
}

/// Channel moves on NHWC uint8 tensors: every pixel's channels are contiguous.
enum Pixels {
    static func slice(_ x: UnsafePointer<UInt8>, into y: UnsafeMutablePointer<UInt8>, pixels: Int, channels c: Int, lower: Int, upper: Int) {
        let w = upper - lower
        for p in 0..<pixels { (y + p * w).update(from: x + p * c + lower, count: w) }
    }

    typealias Part = (data: UnsafePointer<UInt8>, channels: Int, table: [UInt8]?)

    static func concat(_ parts: [Part], into y: UnsafeMutablePointer<UInt8>, pixels: Int) {
        let total = parts.reduce(0) { $0 + $1.channels }
        var offset = 0
        for (part, c, table) in parts {
            if let table {
                table.withUnsafeBufferPointer { t in
                    for p in 0..<pixels {
                        let dst = y + p * total + offset, src = part + p * c
                        for ch in 0..<c { dst[ch] = t[Int(src[ch])] }
                    }
                }
            } else {
                for p in 0..<pixels { (y + p * total + offset).update(from: part + p * c, count: c) }
            }
            offset += c
        }
    }

    /// y[2j] = a[j], y[2j + 1] = b[j] within each pixel.
    static func interleave(_ a: Part, _ b: Part, into y: UnsafeMutablePointer<UInt8>, pixels: Int, half: Int) {
        let identity = (0...255).map { UInt8($0) }
        (a.table ?? identity).withUnsafeBufferPointer { ta in
            (b.table ?? identity).withUnsafeBufferPointer { tb in
                for k in 0..<(pixels * half) {
                    y[2 * k] = ta[Int(a.data[k])]
                    y[2 * k + 1] = tb[Int(b.data[k])]
                }
            }
        }
    }

    /// `x` inside a border of `padding` pixels holding `border[c]`.
    static func pad(_ x: UnsafePointer<UInt8>, into y: UnsafeMutablePointer<UInt8>, batch n: Int, channels c: Int, size s: Int, padding p: Int,
                    border: [UInt8]) {
        let t = s + 2 * p
        for i in 0..<n { for r in 0..<t { for col in 0..<t {
            let dst = y + ((i * t + r) * t + col) * c
            if r >= p && r < s + p && col >= p && col < s + p {
                dst.update(from: x + ((i * s + r - p) * s + col - p) * c, count: c)
            } else {
                for ch in 0..<c { dst[ch] = border[ch] }
            }
        } } }
    }

    static func channelSums(_ x: UnsafePointer<UInt8>, batch n: Int, plane: Int, channels c: Int) -> [Int32] {
        var sums = [Int32](repeating: 0, count: n * c)
        sums.withUnsafeMutableBufferPointer { s in
            for i in 0..<n {
                let out = s.baseAddress! + i * c
                for p in 0..<plane {
                    let row = x + (i * plane + p) * c
                    for ch in 0..<c { out[ch] &+= Int32(row[ch]) }
                }
            }
        }
        return sums
    }
}
