import Networks
import TensorCore

/// Runs an `InferenceGraph` in float32 on NCHW batches: the calibration pass (every value is
/// shown to `visit`) and the float side of every float-vs-int8 comparison. Convolutions are
/// im2col + single-threaded BLAS per image; callers parallelize over images.
public enum FloatExecutor {
    /// Logits [n, classes] of raw images (pixel / 255, NCHW). `visit(value, data)` sees each
    /// value (0: the input, i + 1: node i's output) as [n, channels, size, size] before it is freed.
    public static func run(_ g: InferenceGraph, input: [Float], batch n: Int, visit: ((Int, [Float]) -> Void)? = nil) -> [Float] {
        let lastUse = g.lastUses
        var values = [[Float]?](repeating: nil, count: g.nodes.count + 1)
        values[0] = input
        visit?(0, input)
        var col = [Float]()
        for (index, node) in g.nodes.enumerated() {
            let x = values[node.inputs[0]]!
            let cin = g.channels(of: node.inputs[0]), s = g.size(of: node.inputs[0]), plane = s * s
            var y: [Float]
            switch node.op {
            case let .normalize(mean, std):
                y = x
                for i in 0..<n { for c in 0..<cin {
                    let base = (i * cin + c) * plane
                    for p in 0..<plane { y[base + p] = (x[base + p] - mean[c]) / std[c] }
                } }
            case let .conv(c):
                y = conv(c, x, batch: n, size: s, col: &col)
            case let .slice(lower, upper):
                y = Layout.slice(x, batch: n, channels: cin, plane: plane, lower: lower, upper: upper)
            case .concat:
                y = Layout.concat(node.inputs.map { (values[$0]!, g.channels(of: $0)) }, batch: n, plane: plane)
            case .interleave:
                y = Layout.interleave(values[node.inputs[0]]!, values[node.inputs[1]]!, batch: n, half: cin, plane: plane)
            case .add:
                let b = values[node.inputs[1]]!
                y = x
                for k in y.indices { y[k] += b[k] }
            case .relu:
                y = x.map { max($0, 0) }
            case .globalAveragePool:
                y = [Float](repeating: 0, count: n * cin)
                for i in 0..<(n * cin) {
                    var sum: Float = 0
                    for p in 0..<plane { sum += x[i * plane + p] }
                    y[i] = sum / Float(plane)
                }
            case let .linear(w, b, outputs, inputs):
                y = x.withUnsafeBufferPointer { linear(w, b, outputs: outputs, inputs: inputs, $0.baseAddress!, batch: n) }
            }
            values[index + 1] = y
            if index + 1 < g.output { visit?(index + 1, y) }
            for v in Set(node.inputs) where lastUse[v] == index { values[v] = nil }
        }
        return values[g.output]!
    }

    /// y = W x + b for each of `n` feature rows.
    static func linear(_ w: [Float], _ b: [Float], outputs: Int, inputs: Int, _ x: UnsafePointer<Float>, batch n: Int) -> [Float] {
        var y = [Float](repeating: 0, count: n * outputs)
        for i in 0..<n { for o in 0..<outputs {
            var acc = b[o]
            for k in 0..<inputs { acc += w[o * inputs + k] * x[i * inputs + k] }
            y[i * outputs + o] = acc
        } }
        return y
    }

    static func conv(_ c: InferenceGraph.Conv, _ x: [Float], batch n: Int, size s: Int, col: inout [Float]) -> [Float] {
        let so = (s + 2 * c.padding - c.kernel) / c.stride + 1
        let inPlane = s * s, outPlane = so * so, kk = c.kernel * c.kernel
        var y = [Float](repeating: 0, count: n * c.outputChannels * outPlane)
        if c.groups == 1 {
            let rows = c.inputChannels * kk
            let direct = c.kernel == 1 && c.stride == 1 && c.padding == 0
            if !direct && col.count < rows * outPlane { col = [Float](repeating: 0, count: rows * outPlane) }
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { yb in
                    col.withUnsafeMutableBufferPointer { cb in
                        for i in 0..<n {
                            let image = xb.baseAddress! + i * c.inputChannels * inPlane
                            let out = yb.baseAddress! + i * c.outputChannels * outPlane
                            for o in 0..<c.outputChannels { (out + o * outPlane).update(repeating: c.bias[o], count: outPlane) }
                            var b = image
                            if !direct {
                                Window.columns(image, channels: c.inputChannels, size: s, kernel: c.kernel, stride: c.stride, padding: c.padding,
                                               outputSize: so, pad: { c.padValue?[$0] ?? 0 }, into: cb.baseAddress!)
                                b = UnsafePointer(cb.baseAddress!)
                            }
                            c.weight.withUnsafeBufferPointer { w in
                                BLAS.sgemm(transA: false, transB: false, m: c.outputChannels, n: outPlane, k: rows, alpha: 1,
                                           a: w.baseAddress!, lda: rows, b: b, ldb: outPlane, beta: 1, c: out, ldc: outPlane)
                            }
                        }
                    }
                }
            }
        } else {
            precondition(c.groups == c.inputChannels && c.groups == c.outputChannels, "grouped convolutions other than depthwise")
            for i in 0..<n { for ch in 0..<c.outputChannels {
                let src = (i * c.inputChannels + ch) * inPlane, dst = (i * c.outputChannels + ch) * outPlane
                for oy in 0..<so { for ox in 0..<so {
                    var acc = c.bias[ch]
                    for ky in 0..<c.kernel {
                        let iy = oy * c.stride - c.padding + ky
                        for kx in 0..<c.kernel {
                            let ix = ox * c.stride - c.padding + kx
                            let v = iy >= 0 && iy < s && ix >= 0 && ix < s ? x[src + iy * s + ix] : (c.padValue?[ch] ?? 0)
                            acc += c.weight[ch * kk + ky * c.kernel + kx] * v
                        }
                    }
                    y[dst + oy * so + ox] = c.relu ? max(acc, 0) : acc
                } }
            } }
            return y
        }
        if c.relu { for k in y.indices { y[k] = max(y[k], 0) } }
        return y
    }
}

/// Channel moves shared by the float and integer executors, on [n, channels, plane] arrays.
enum Layout {
    static func slice<T>(_ x: [T], batch n: Int, channels: Int, plane: Int, lower: Int, upper: Int) -> [T] {
        var y = [T]()
        y.reserveCapacity(n * (upper - lower) * plane)
        for i in 0..<n { y += x[((i * channels + lower) * plane)..<((i * channels + upper) * plane)] }
        return y
    }

    static func concat<T>(_ parts: [([T], Int)], batch n: Int, plane: Int) -> [T] {
        var y = [T]()
        for i in 0..<n { for (p, c) in parts { y += p[(i * c * plane)..<((i + 1) * c * plane)] } }
        return y
    }

    /// ShuffleNet's shuffle of two halves of `half` channels: y[2j] = a[j], y[2j + 1] = b[j].
    static func interleave<T>(_ a: [T], _ b: [T], batch n: Int, half: Int, plane: Int) -> [T] {
        var y = [T]()
        y.reserveCapacity(2 * a.count)
        for i in 0..<n { for j in 0..<half {
            let k = (i * half + j) * plane
            y += a[k..<(k + plane)]
            y += b[k..<(k + plane)]
        } }
        return y
    }
}

/// im2col of one CHW image: rows (c, ky, kx), columns the output positions; a position outside
/// the image reads `pad(c)`.
enum Window {
    static func columns<T>(_ x: UnsafePointer<T>, channels: Int, size s: Int, kernel k: Int, stride: Int, padding: Int,
                           outputSize so: Int, pad: (Int) -> T, into col: UnsafeMutablePointer<T>) {
        for c in 0..<channels {
            let border = pad(c), image = x + c * s * s
            for ky in 0..<k { for kx in 0..<k {
                let row = col + ((c * k + ky) * k + kx) * so * so
                for oy in 0..<so {
                    let iy = oy * stride - padding + ky
                    let dst = row + oy * so
                    guard iy >= 0 && iy < s else { dst.update(repeating: border, count: so); continue }
                    for ox in 0..<so {
                        let ix = ox * stride - padding + kx
                        dst[ox] = ix >= 0 && ix < s ? image[iy * s + ix] : border
                    }
                }
            } }
        }
    }
}

extension InferenceGraph {
    /// Channels and spatial size of value `id` (0: the input).
    public func channels(of id: Int) -> Int { id == 0 ? inputShape[0] : nodes[id - 1].channels }
    public func size(of id: Int) -> Int { id == 0 ? inputShape[1] : nodes[id - 1].size }

    /// For each value, the index of the last node reading it (−1: none).
    var lastUses: [Int] {
        var last = [Int](repeating: -1, count: nodes.count + 1)
        for (i, node) in nodes.enumerated() { for v in node.inputs { last[v] = i } }
        return last
    }
}
