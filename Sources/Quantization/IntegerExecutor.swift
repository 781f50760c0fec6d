import Networks

/// Runs a `QuantizedGraph` in integers, the plain reference of the int8 path: uint8
/// activations, int8 weights, int32 sums, then y = saturate(round_half_even(sum · M[o] + z_out))
/// with M[o] = s_in · s_w[o] / s_out in float32 (oneDNN's order; onnxruntime rounds before adding
/// z_out, which differs only on exact ties).
/// Moves between grids (concatenation, addition, pooling) go through float32 the same way.
public enum IntegerExecutor {
    /// Float logits [n, classes] of uint8 inputs on the input's grid (raw pixels), NCHW.
    /// `visit(value, data)` sees every quantized value (0: the input, i + 1: node i);
    /// `held(bytes)`, after each node has written its output, the activation bytes held
    /// then, its inputs included (what `SearchSpace.edgeCost` predicts the peak of).
    public static func run(_ q: QuantizedGraph, input: [UInt8], batch n: Int, visit: ((Int, [UInt8]) -> Void)? = nil,
                           held: ((Int) -> Void)? = nil) -> [Float] {
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
                y = add(x, inQ, values[node.inputs[1]]!, q.activations[node.inputs[1]], outQ)
            case .relu:
                y = relu(x, from: inQ, to: outQ)
            case .globalAveragePool:
                var sums = [Int32](repeating: 0, count: n * cin)
                for i in 0..<(n * cin) { for p in 0..<plane { sums[i] &+= Int32(x[i * plane + p]) } }
                y = pool(sums, plane: plane, inQ, outQ)
            case .linear:
                logits = classify(x, batch: n, layer: q.layers[index]!, node: node, input: inQ)
                y = []
            }
            if index + 1 < g.output {
                values[index + 1] = y
                visit?(index + 1, y)
            }
            if let held { held(values.reduce(index + 1 < g.output ? 0 : y.count) { $0 + ($1?.count ?? 0) }) }
            for v in Set(node.inputs) where lastUse[v] == index { values[v] = nil }
        }
        return logits
    }

    /// A convolution's int32 sum onto the output grid as oneDNN computes it: the scaled sum,
    /// ReLU'd when fused, plus the zero point, rounded half to even once, saturated.
    @inline(__always) static func requantize(_ sum: Int32, _ multiplier: Float, _ zero: Int32, relu: Bool) -> UInt8 {
        let scaled = Float(sum) * multiplier
        let shifted = (relu ? max(scaled, 0) : scaled) + Float(zero)
        return UInt8(AffineQuantization.clamp(shifted.rounded(.toNearestOrEven), 0))
    }

    /// max(x, 0) onto the output grid: round(s_in / s_out · max(q − z_in, 0)) + z_out (on the
    /// same grid simply max(q, z)).
    static func relu(_ x: [UInt8], from a: AffineQuantization, to b: AffineQuantization) -> [UInt8] {
        if a == b {
            let z = UInt8(a.zeroPoint)
            return x.map { max($0, z) }
        }
        let m = a.scale / b.scale
        return x.map { UInt8(AffineQuantization.clamp((Float(max(Int32($0) - a.zeroPoint, 0)) * m).rounded(.toNearestOrEven), b.zeroPoint)) }
    }

    /// a + b onto the output grid, elementwise (any layout).
    static func add(_ a: [UInt8], _ aQ: AffineQuantization, _ b: [UInt8], _ bQ: AffineQuantization, _ outQ: AffineQuantization) -> [UInt8] {
        let ma = aQ.scale / outQ.scale, mb = bQ.scale / outQ.scale
        var y = a
        for k in y.indices {
            let sum = Float(Int32(a[k]) - aQ.zeroPoint) * ma + Float(Int32(b[k]) - bQ.zeroPoint) * mb
            y[k] = UInt8(AffineQuantization.clamp(sum.rounded(.toNearestOrEven), outQ.zeroPoint))
        }
        return y
    }

    /// Channel sums over `plane` pixels onto the output grid as means.
    static func pool(_ sums: [Int32], plane: Int, _ inQ: AffineQuantization, _ outQ: AffineQuantization) -> [UInt8] {
        let m = inQ.scale / (outQ.scale * Float(plane))
        return sums.map { sum in
            let centred = Float(sum - Int32(plane) * inQ.zeroPoint) * m
            return UInt8(AffineQuantization.clamp(centred.rounded(.toNearestOrEven), outQ.zeroPoint))
        }
    }

    /// The classifier on pooled features [n, inputs]: int32 sums dequantized to float logits.
    static func classify(_ x: [UInt8], batch n: Int, layer: QuantizedLayer, node: InferenceGraph.Node, input: AffineQuantization) -> [Float] {
        guard case let .linear(_, _, outputs, inputs) = node.op else { preconditionFailure("\(node.name) is not the classifier") }
        var logits = [Float](repeating: 0, count: n * outputs)
        for i in 0..<n { for o in 0..<outputs {
            var sum = layer.bias[o]
            for k in 0..<inputs { sum &+= Int32(layer.weights.values[o * inputs + k]) &* (Int32(x[i * inputs + k]) - input.zeroPoint) }
            logits[i * outputs + o] = Float(sum) * (input.scale * layer.weights.scales[o])
        } }
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
        var y = [UInt8](repeating: 0, count: n * c.outputChannels * outPlane)
        @inline(__always) func store(_ sum: Int32, _ o: Int, _ at: Int) {
            y[at] = requantize(sum, multipliers[o], zOut, relu: c.relu)
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
