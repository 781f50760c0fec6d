// Small SIMD helpers over float runs. Shape legend for the kernels: N batch, C channels,
// H/W spatial, K kernel size; feature maps are channel-major [C, H, W, N] (see FeatureMap).

@inline(__always) @usableFromInline
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) @usableFromInline
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

public enum Vector {
    /// out[0..<n] = bias + sum_t w[t] * src[t][0..<n], then max(0, .) when `relu`
    /// (overwrites `out`). The workhorse of the depthwise kernels: one output pixel of the
    /// whole batch; bias and ReLU are the fused epilogue of a folded BatchNorm.
    @inlinable
    public static func weightedSum(
        into out: UnsafeMutablePointer<Float>, count n: Int,
        sources: UnsafePointer<UnsafePointer<Float>>, weights: UnsafePointer<Float>, taps: Int,
        bias: Float = 0, relu: Bool = false
    ) {
        var j = 0
        let b = SIMD8<Float>(repeating: bias), zero = SIMD8<Float>()
        while j + 32 <= n {
            var a0 = b, a1 = b, a2 = b, a3 = b
            for t in 0..<taps {
                let p = sources[t] + j
                let w = SIMD8<Float>(repeating: weights[t])
                a0.addProduct(w, load8(p)); a1.addProduct(w, load8(p + 8))
                a2.addProduct(w, load8(p + 16)); a3.addProduct(w, load8(p + 24))
            }
            if relu {
                a0.replace(with: zero, where: a0 .< zero); a1.replace(with: zero, where: a1 .< zero)
                a2.replace(with: zero, where: a2 .< zero); a3.replace(with: zero, where: a3 .< zero)
            }
            store8(a0, out + j); store8(a1, out + j + 8); store8(a2, out + j + 16); store8(a3, out + j + 24)
            j += 32
        }
        while j + 8 <= n {
            var a = b
            for t in 0..<taps { a.addProduct(SIMD8<Float>(repeating: weights[t]), load8(sources[t] + j)) }
            if relu { a.replace(with: zero, where: a .< zero) }
            store8(a, out + j)
            j += 8
        }
        while j < n {
            var a: Float = bias
            for t in 0..<taps { a += weights[t] * sources[t][j] }
            out[j] = relu ? max(a, 0) : a
            j += 1
        }
    }

    /// x[j] = x[j] * scale + shift, then max(0, .) when `relu` (in place).
    @inlinable
    public static func affine(_ x: UnsafeMutablePointer<Float>, count n: Int, scale: Float, shift: Float, relu: Bool) {
        let vs = SIMD8<Float>(repeating: scale), vb = SIMD8<Float>(repeating: shift), zero = SIMD8<Float>()
        var j = 0
        while j + 8 <= n {
            var v = vb
            v.addProduct(vs, load8(x + j))
            if relu { v.replace(with: zero, where: v .< zero) }
            store8(v, x + j)
            j += 8
        }
        while j < n {
            let v = x[j] * scale + shift
            x[j] = relu ? max(v, 0) : v
            j += 1
        }
    }

    /// sum_j a[j] * b[j] with SIMD partial sums.
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var j = 0
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
        while j + 16 <= n {
            s0.addProduct(load8(a + j), load8(b + j))
            s1.addProduct(load8(a + j + 8), load8(b + j + 8))
            j += 16
        }
        while j + 8 <= n { s0.addProduct(load8(a + j), load8(b + j)); j += 8 }
        var s = (s0 + s1).sum()
        while j < n { s += a[j] * b[j]; j += 1 }
        return s
    }

    /// y[j] += a[j]
    @inlinable
    public static func add(_ a: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        var j = 0
        while j + 8 <= n { store8(load8(y + j) + load8(a + j), y + j); j += 8 }
        while j < n { y[j] += a[j]; j += 1 }
    }

    /// (sum, sum of squares) of x[0..<n], partial sums in Float lanes, total in Double.
    @inlinable
    public static func sumAndSquares(_ x: UnsafePointer<Float>, count n: Int) -> (Double, Double) {
        var j = 0
        var s = SIMD8<Float>(), q = SIMD8<Float>()
        var sd = 0.0, qd = 0.0
        // Flush the Float lanes every 4096 elements so long planes keep Double accuracy.
        while j < n {
            let end = min(n, j + 4096)
            while j + 8 <= end {
                let v = load8(x + j)
                s += v
                q.addProduct(v, v)
                j += 8
            }
            while j < end { s[0] += x[j]; q[0] += x[j] * x[j]; j += 1 }
            for l in 0..<8 { sd += Double(s[l]); qd += Double(q[l]) }
            s = SIMD8<Float>(); q = SIMD8<Float>()
        }
        return (sd, qd)
    }
}
