// Depthwise convolution on channel-major [C, H, W, N] maps, any odd kernel (3/5/7 used),
// stride 1 or 2, zero padding. Vectorised along the batch: every output pixel of one
// channel is a weighted sum of K*K input rows of N floats, so borders cost nothing but a
// shorter tap list. Channels are split across threads.

/// A per-channel affine map and optional ReLU applied to a convolution's output: the
/// inference form of a following BatchNorm (scale = gamma / sqrt(var + eps),
/// shift = beta - mean * scale).
public struct Epilogue {
    public var scale: UnsafePointer<Float>
    public var shift: UnsafePointer<Float>
    public var relu: Bool

    public init(scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, relu: Bool) {
        self.scale = scale
        self.shift = shift
        self.relu = relu
    }

    /// (scale, shift, relu) of channel `c`; the identity when there is no epilogue.
    @inline(__always)
    static func channel(_ c: Int, of e: Epilogue?) -> (Float, Float, Bool) {
        guard let e else { return (1, 0, false) }
        return (e.scale[c], e.shift[c], e.relu)
    }

    /// Applies the epilogue in place to a channel-major map (after a GEMM).
    public func apply(_ y: FeatureMap, engine: Engine) {
        engine.chunks(y.channels, work: y.count, minWork: 1 << 16) { channels in
            for c in channels {
                Vector.affine(y.pointer + c * y.plane, count: y.plane, scale: scale[c], shift: shift[c], relu: relu)
            }
        }
    }
}

public enum Depthwise {
    /// Output spatial size of a K-kernel, stride-s, pad-p convolution on `size`.
    @inlinable
    public static func outputSize(_ size: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        (size + 2 * padding - kernel) / stride + 1
    }

    /// output[c, ho, wo, n] = sum_{kh, kw} w[c, kh, kw] * input[c, ho*s + kh - p, wo*s + kw - p, n].
    /// weights: [C, K, K] (the first `input.channels` rows of a larger tensor are fine).
    /// With `epilogue` (per-channel scale and shift, optional ReLU) it computes
    /// relu?(scale[c] * conv + shift[c]): a BatchNorm folded into the convolution.
    /// With `statistics` (2 Doubles per channel) it also stores each output channel's sum
    /// and sum of squares, read back while the values are still in L1 (BN calibration).
    public static func forward(
        input x: FeatureMap, weights: UnsafePointer<Float>, kernel k: Int, stride s: Int, padding p: Int,
        output y: FeatureMap, epilogue: Epilogue? = nil, statistics: UnsafeMutablePointer<Double>? = nil, engine: Engine
    ) {
        precondition(y.channels == x.channels && y.batch == x.batch
                     && y.height == outputSize(x.height, kernel: k, stride: s, padding: p)
                     && y.width == outputSize(x.width, kernel: k, stride: s, padding: p),
                     "depthwise forward: input \(x.shapeDescription) -> output \(y.shapeDescription), k \(k) s \(s)")
        let n = x.batch
        let rowIn = x.width * n, rowOut = y.width * n
        engine.chunks(x.channels, work: y.count * k * k) { channels in
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: k * k) { src in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: k * k) { wts in
                    for c in channels {
                        let xin = UnsafePointer(x.pointer + c * x.plane)
                        let out = y.pointer + c * y.plane
                        let wc = weights + c * k * k
                        let (scale, shift, relu) = Epilogue.channel(c, of: epilogue)
                        var sum = 0.0, squares = 0.0
                        for ho in 0..<y.height {
                            for wo in 0..<y.width {
                                var taps = 0
                                for kh in 0..<k {
                                    let hi = ho * s + kh - p
                                    if hi < 0 || hi >= x.height { continue }
                                    for kw in 0..<k {
                                        let wi = wo * s + kw - p
                                        if wi < 0 || wi >= x.width { continue }
                                        src[taps] = xin + hi * rowIn + wi * n
                                        wts[taps] = wc[kh * k + kw] * scale
                                        taps += 1
                                    }
                                }
                                Vector.weightedSum(into: out + ho * rowOut + wo * n, count: n,
                                                   sources: UnsafePointer(src.baseAddress!),
                                                   weights: UnsafePointer(wts.baseAddress!), taps: taps,
                                                   bias: shift, relu: relu)
                                if statistics != nil {
                                    let (a, b) = Vector.sumAndSquares(out + ho * rowOut + wo * n, count: n)
                                    sum += a
                                    squares += b
                                }
                            }
                        }
                        if let statistics {
                            statistics[2 * c] = sum
                            statistics[2 * c + 1] = squares
                        }
                    }
                }
            }
        }
    }

    /// gradInput = d(loss)/d(input) given gradOutput (overwrites gradInput). Written as a
    /// gather over the output pixels each input pixel fed, so threads never collide.
    public static func backwardInput(
        gradOutput dy: FeatureMap, weights: UnsafePointer<Float>, kernel k: Int, stride s: Int, padding p: Int,
        gradInput dx: FeatureMap, engine: Engine
    ) {
        precondition(dy.channels == dx.channels && dy.batch == dx.batch
                     && dy.height == outputSize(dx.height, kernel: k, stride: s, padding: p)
                     && dy.width == outputSize(dx.width, kernel: k, stride: s, padding: p),
                     "depthwise backward: gradOutput \(dy.shapeDescription), gradInput \(dx.shapeDescription)")
        let n = dx.batch
        let rowIn = dx.width * n, rowOut = dy.width * n
        engine.chunks(dx.channels, work: dy.count * k * k) { channels in
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: k * k) { src in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: k * k) { wts in
                    for c in channels {
                        let g = UnsafePointer(dy.pointer + c * dy.plane)
                        let out = dx.pointer + c * dx.plane
                        let wc = weights + c * k * k
                        for hi in 0..<dx.height {
                            for wi in 0..<dx.width {
                                var taps = 0
                                for kh in 0..<k {
                                    let th = hi + p - kh
                                    if th < 0 || th % s != 0 { continue }
                                    let ho = th / s
                                    if ho >= dy.height { continue }
                                    for kw in 0..<k {
                                        let tw = wi + p - kw
                                        if tw < 0 || tw % s != 0 { continue }
                                        let wo = tw / s
                                        if wo >= dy.width { continue }
                                        src[taps] = g + ho * rowOut + wo * n
                                        wts[taps] = wc[kh * k + kw]
                                        taps += 1
                                    }
                                }
                                Vector.weightedSum(into: out + hi * rowIn + wi * n, count: n,
                                                   sources: UnsafePointer(src.baseAddress!),
                                                   weights: UnsafePointer(wts.baseAddress!), taps: taps)
                            }
                        }
                    }
                }
            }
        }
    }

    /// gradWeights[c, kh, kw] += sum_{ho, wo, n} gradOutput[c, ho, wo, n] * input[c, hi, wi, n].
    /// Output pixel outermost: its gradient row (N floats) stays in L1 while every tap's input
    /// row streams past it, so dY is read once rather than once per tap; per-tap partial sums
    /// live in SIMD lanes on the stack.
    public static func backwardWeights(
        input x: FeatureMap, gradOutput dy: FeatureMap, kernel k: Int, stride s: Int, padding p: Int,
        gradWeights: UnsafeMutablePointer<Float>, engine: Engine
    ) {
        precondition(dy.channels == x.channels && dy.batch == x.batch,
                     "depthwise weight gradient: input \(x.shapeDescription), gradOutput \(dy.shapeDescription)")
        let n = x.batch
        let rowIn = x.width * n, rowOut = dy.width * n
        let taps = k * k
        engine.chunks(x.channels, work: dy.count * taps) { channels in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: taps) { acc in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: taps) { tail in
                    for c in channels {
                        for t in 0..<taps { acc[t] = SIMD8<Float>(); tail[t] = 0 }
                        let xin = UnsafePointer(x.pointer + c * x.plane)
                        let g = UnsafePointer(dy.pointer + c * dy.plane)
                        for ho in 0..<dy.height {
                            for wo in 0..<dy.width {
                                let gp = g + ho * rowOut + wo * n
                                for kh in 0..<k {
                                    let hi = ho * s + kh - p
                                    if hi < 0 || hi >= x.height { continue }
                                    for kw in 0..<k {
                                        let wi = wo * s + kw - p
                                        if wi < 0 || wi >= x.width { continue }
                                        let xp = xin + hi * rowIn + wi * n
                                        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
                                        var j = 0
                                        while j + 16 <= n {
                                            a0.addProduct(load8(gp + j), load8(xp + j))
                                            a1.addProduct(load8(gp + j + 8), load8(xp + j + 8))
                                            j += 16
                                        }
                                        while j + 8 <= n { a0.addProduct(load8(gp + j), load8(xp + j)); j += 8 }
                                        let t = kh * k + kw
                                        acc[t] += a0 + a1
                                        while j < n { tail[t] += gp[j] * xp[j]; j += 1 }
                                    }
                                }
                            }
                        }
                        for t in 0..<taps { gradWeights[c * taps + t] += acc[t].sum() + tail[t] }
                    }
                }
            }
        }
    }
}

/// Direct dense convolution for few input channels (the stem: 1 or 3 channels), on
/// channel-major maps: every output pixel of one output channel is a weighted sum of
/// Cin*K*K input rows of N floats. Avoids writing and re-reading an im2col matrix that
/// is K*K times the input. weights: OIHW rows of length `rowStride` (>= Cin*K*K).
public enum DirectConv {
    public static func forward(
        input x: FeatureMap, weights: UnsafePointer<Float>, rowStride: Int, outputChannels: Int,
        kernel k: Int, stride s: Int, padding p: Int, output y: FeatureMap, epilogue: Epilogue? = nil, engine: Engine
    ) {
        let n = x.batch
        let taps = x.channels * k * k
        let rowIn = x.width * n, rowOut = y.width * n
        engine.chunks(outputChannels, work: y.count * taps) { outs in
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: taps) { src in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: taps) { wts in
                    for o in outs {
                        let wo = weights + o * rowStride
                        let (scale, shift, relu) = Epilogue.channel(o, of: epilogue)
                        let out = y.pointer + o * y.plane
                        for oh in 0..<y.height {
                            for ow in 0..<y.width {
                                var t = 0
                                for c in 0..<x.channels {
                                    let xin = UnsafePointer(x.pointer + c * x.plane)
                                    for kh in 0..<k {
                                        let hi = oh * s + kh - p
                                        if hi < 0 || hi >= x.height { continue }
                                        for kw in 0..<k {
                                            let wi = ow * s + kw - p
                                            if wi < 0 || wi >= x.width { continue }
                                            src[t] = xin + hi * rowIn + wi * n
                                            wts[t] = wo[(c * k + kh) * k + kw] * scale
                                            t += 1
                                        }
                                    }
                                }
                                Vector.weightedSum(into: out + oh * rowOut + ow * n, count: n,
                                                   sources: UnsafePointer(src.baseAddress!),
                                                   weights: UnsafePointer(wts.baseAddress!), taps: t,
                                                   bias: shift, relu: relu)
                            }
                        }
                    }
                }
            }
        }
    }
}
