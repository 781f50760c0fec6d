// im2col / col2im for the channel-major [C, H, W, N] layout. Column matrix rows are
// ordered (c, kh, kw), matching OIHW weights, so a convolution running on the first
// `cin` input channels uses the leading cin*K*K columns of its weight matrix.
// Column matrix: [C*K*K, Ho*Wo*N], row-major.

public enum Im2col {
    /// Writes the column matrix of `x` into `col` (C*K*K rows of Ho*Wo*N floats).
    public static func forward(
        _ x: FeatureMap, kernel k: Int, stride s: Int, padding p: Int,
        outputHeight ho: Int, outputWidth wo: Int, into col: UnsafeMutablePointer<Float>, engine: Engine
    ) {
        let n = x.batch
        let rowLength = ho * wo * n
        engine.chunks(x.channels, work: x.channels * k * k * rowLength) { channels in
            for c in channels {
                let xin = x.pointer + c * x.plane
                for kh in 0..<k {
                    for kw in 0..<k {
                        let row = col + ((c * k + kh) * k + kw) * rowLength
                        for oh in 0..<ho {
                            let hi = oh * s + kh - p
                            for ow in 0..<wo {
                                let wi = ow * s + kw - p
                                let dst = row + (oh * wo + ow) * n
                                if hi < 0 || hi >= x.height || wi < 0 || wi >= x.width {
                                    dst.update(repeating: 0, count: n)
                                } else {
                                    dst.update(from: xin + (hi * x.width + wi) * n, count: n)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// gradInput = col2im(gradCol): overwrites `dx` with the sum of every column entry
    /// that was copied from each input element.
    public static func backward(
        _ dcol: UnsafePointer<Float>, kernel k: Int, stride s: Int, padding p: Int,
        outputHeight ho: Int, outputWidth wo: Int, into dx: FeatureMap, engine: Engine
    ) {
        let n = dx.batch
        let rowLength = ho * wo * n
        engine.chunks(dx.channels, work: dx.channels * k * k * rowLength) { channels in
            for c in channels {
                let out = dx.pointer + c * dx.plane
                out.update(repeating: 0, count: dx.plane)
                for kh in 0..<k {
                    for kw in 0..<k {
                        let row = dcol + ((c * k + kh) * k + kw) * rowLength
                        for oh in 0..<ho {
                            let hi = oh * s + kh - p
                            if hi < 0 || hi >= dx.height { continue }
                            for ow in 0..<wo {
                                let wi = ow * s + kw - p
                                if wi < 0 || wi >= dx.width { continue }
                                Vector.add(row + (oh * wo + ow) * n, into: out + (hi * dx.width + wi) * n, count: n)
                            }
                        }
                    }
                }
            }
        }
    }
}
