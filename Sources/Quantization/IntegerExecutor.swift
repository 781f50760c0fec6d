import Networks

/// Runs a `QuantizedGraph` in integers, the plain reference of the int8 path: uint8
/// activations, int8 weights, int32 sums, then y = clamp(round_half_even(sum · M[o]) + z_out)
/// with M[o] = s_in · s_w[o] / s_out in float32 — the arithmetic of onnxruntime's QLinearConv.
/// Moves between grids (concatenation, addition, pooling) go through float32 the same way.
public enum IntegerExecutor {
    /// Float logits [n, classes] of uint8 inputs on the input's grid (raw pixels), NCHW.
    /// `visit(value, data)` sees every quantized value (0: the input, i + 1: node i).
    public static func run(_ q: QuantizedGraph, input: [UInt8], batch n: Int, visit: ((Int, [UInt8]) -> Void)? = nil) -> [Float] {
        let g = q.graph
        let lastUse = g.lastUses
        var values = [[UInt8]?](repeating: nil, count: g.nodes.count)
        values[0] = input
        visit?(0, input)
        var col = [Int32](), acc = [Int32]()
        var logits = [Float]()
        for (index, node) in g.nodes.enumerated() {
            let x = values[node.inputs[0]]!
            let inQ = q.activations[node.inputs[0]]
            let cin = g.channels(of: node.inputs[0]), s = g.size(of: node.inputs[0]), plane = s * s
            let outQ = index + 1 < g.output ? q.activations[index + 1] : inQ
            var y: [UInt8]
            switch node.op {
            case let .normalize(mean, std):
                y = x
                for i in 0..<n { for c in 0..<cin {
                    let base = (i * cin + c) * plane
                    for p in 0..<plane { y[base + p] = UInt8(outQ.quantize((inQ.dequantize(Int32(x[base + p])) - mean[c]) / std[c])) }
                } }
            case let .conv(c):
                y = conv(c, q.layers[index]!, x, batch: n, size: s, input: inQ, output: outQ, col: &col, acc: &acc)
            case let .slice(lower, upper):
                y = Layout.slice(x, batch: n, channels: cin, plane: plane, lower: lower, upper: upper)
            case .concat:
                y = Layout.concat(node.inputs.map { (regrid(values[$0]!, from: q.activations[$0], to: outQ), g.channels(of: $0)) }, batch: n, plane: plane)
            case .interleave:
                let a = regrid(x, from: inQ, to: outQ), b = regrid(values[node.inputs[1]]!, from: q.activations[node.inputs[1]], to: outQ)
                y = Layout.interleave(a, b, batch: n, half: cin, plane: plane)
            case .add:
                let b = values[node.inputs[1]]!, bQ = q.activations[node.inputs[1]]
                let ma = inQ.scale / outQ.scale, mb = bQ.scale / outQ.scale
                y = x
                for k in y.indices {
                    let sum = Float(Int32(x[k]) - inQ.zeroPoint) * ma + Float(Int32(b[k]) - bQ.zeroPoint) * mb
                    y[k] = UInt8(AffineQuantization.clamp(sum.rounded(.toNearestOrEven), outQ.zeroPoint))
                }
            case .relu:
                let z = UInt8(inQ.zeroPoint)
                y = x.map { max($0, z) }
            case .globalAveragePool:
                let m = inQ.scale / (outQ.scale * Float(plane))
                y = [UInt8](repeating: 0, count: n * cin)
                for i in 0..<(n * cin) {
                    var sum: Int32 = 0
                    for p in 0..<plane { sum &+= Int32(x[i * plane + p]) }
                    let centred = Float(sum - Int32(plane) * inQ.zeroPoint) * m
                    y[i] = UInt8(AffineQuantization.clamp(centred.rounded(.toNearestOrEven), outQ.zeroPoint))
                }
            case let .linear(_, _, outputs, inputs):
                let layer = q.layers[index]!
                logits = [Float](repeating: 0, count: n * outputs)
                for i in 0..<n { for o in 0..<outputs {
                    var sum = layer.bias[o]
                    for k in 0..<inputs { sum &+= Int32(layer.weights.values[o * inputs + k]) &* (Int32(x[i * inputs + k]) - inQ.zeroPoint) }
                    logits[i * outputs + o] = Float(sum) * (inQ.scale * layer.weights.scales[o])
                } }
                y = []
            }
            if index + 1 < g.output {
                values[index + 1] = y
                visit?(index + 1, y)
            }
            for v in Set(node.inputs) where lastUse[v] == index { values[v] = nil }
        }
        return logits
    }

    /// Values moved onto another grid: round(s_from / s_to · (q − z_from)) + z_to.
    static func regrid(_ x: [UInt8], from a: AffineQuantization, to b: AffineQuantization) -> [UInt8] {
        if a == b { return x }
        let m = a.scale / b.scale
        return x.map { UInt8(AffineQuantization.clamp((Float(Int32($0) - a.zeroPoint) * m).rounded(.toNearestOrEven), b.zeroPoint)) }
    }

    static func conv(_ c: InferenceGraph.Conv, _ layer: QuantizedLayer, _ x: [UInt8], batch n: Int, size s: Int,
                     input: AffineQuantization, output: AffineQuantization, col: inout [Int32], acc: inout [Int32]) -> [UInt8] {
        let so = (s + 2 * c.padding - c.kernel) / c.stride + 1
        let inPlane = s * s, outPlane = so * so, kk = c.kernel * c.kernel
        let multipliers = layer.weights.scales.map { input.scale * $0 / output.scale }
        let zIn = input.zeroPoint, zOut = output.zeroPoint
        let floor = c.relu ? zOut : AffineQuantization.lower
        var y = [UInt8](repeating: 0, count: n * c.outputChannels * outPlane)
        @inline(__always) func store(_ sum: Int32, _ o: Int, _ at: Int) {
            y[at] = UInt8(max(AffineQuantization.clamp((Float(sum) * multipliers[o]).rounded(.toNearestOrEven), zOut), floor))
        }
        if c.groups == 1 {
            let rows = c.inputChannels * kk
            if col.count < rows * outPlane { col = [Int32](repeating: 0, count: rows * outPlane) }
            if acc.count < outPlane { acc = [Int32](repeating: 0, count: outPlane) }
            var centred = [Int32](repeating: 0, count: c.inputChannels * inPlane)
            for i in 0..<n {
                for k in centred.indices { centred[k] = Int32(x[i * c.inputChannels * inPlane + k]) - zIn }
                centred.withUnsafeBufferPointer { image in
                    col.withUnsafeMutableBufferPointer { cb in
                        Window.columns(image.baseAddress!, channels: c.inputChannels, size: s, kernel: c.kernel, stride: c.stride,
                                       padding: c.padding, outputSize: so, pad: { (layer.padValue?[$0] ?? zIn) - zIn }, into: cb.baseAddress!)
                    }
                }
                layer.weights.values.withUnsafeBufferPointer { w in
                    col.withUnsafeBufferPointer { cb in
                        acc.withUnsafeMutableBufferPointer { ab in
                            let a = ab.baseAddress!
                            for o in 0..<c.outputChannels {
                                a.update(repeating: layer.bias[o], count: outPlane)
                                for r in 0..<rows {
                                    let wv = Int32(w[o * rows + r])
                                    if wv == 0 { continue }
                                    let src = cb.baseAddress! + r * outPlane
                                    for p in 0..<outPlane { a[p] &+= wv &* src[p] }
                                }
                                let base = (i * c.outputChannels + o) * outPlane
                                for p in 0..<outPlane { store(a[p], o, base + p) }
                            }
                        }
                    }
                }
            }
        } else {
            for i in 0..<n { for ch in 0..<c.outputChannels {
                let src = (i * c.inputChannels + ch) * inPlane, dst = (i * c.outputChannels + ch) * outPlane
                let border = (layer.padValue?[ch] ?? zIn) - zIn
                for oy in 0..<so { for ox in 0..<so {
                    var sum = layer.bias[ch]
                    for ky in 0..<c.kernel {
                        let iy = oy * c.stride - c.padding + ky
                        for kx in 0..<c.kernel {
                            let ix = ox * c.stride - c.padding + kx
                            let v = iy >= 0 && iy < s && ix >= 0 && ix < s ? Int32(x[src + iy * s + ix]) - zIn : border
                            sum &+= Int32(layer.weights.values[ch * kk + ky * c.kernel + kx]) &* v
                        }
                    }
                    store(sum, ch, dst + oy * so + ox)
                } }
            } }
        }
        return y
    }
}
