// Memory-bound passes over float runs; split across threads when large.

public enum Elementwise {
    /// y = max(x, 0)
    public static func relu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, engine: Engine) {
        engine.chunks(n, work: n, minWork: 1 << 17) { r in
            var j = r.lowerBound
            let zero = SIMD8<Float>()
            while j + 8 <= r.upperBound { let v = load8(x + j); store8(v.replacing(with: zero, where: v .< zero), y + j); j += 8 }
            while j < r.upperBound { y[j] = max(x[j], 0); j += 1 }
        }
    }

    /// dx = dy where y > 0, else 0 (y is the ReLU output).
    public static func reluBackward(output y: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>,
                                    gradInput dx: UnsafeMutablePointer<Float>, count n: Int, engine: Engine) {
        engine.chunks(n, work: n, minWork: 1 << 17) { r in
            var j = r.lowerBound
            let zero = SIMD8<Float>()
            while j + 8 <= r.upperBound {
                let mask = load8(y + j) .> zero
                store8(zero.replacing(with: load8(dy + j), where: mask), dx + j)
                j += 8
            }
            while j < r.upperBound { dx[j] = y[j] > 0 ? dy[j] : 0; j += 1 }
        }
    }

    /// dst = src
    public static func copy(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count n: Int, engine: Engine) {
        engine.chunks(n, work: n, minWork: 1 << 18) { r in
            (dst + r.lowerBound).update(from: src + r.lowerBound, count: r.count)
        }
    }

    /// y = a + b
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int, engine: Engine) {
        engine.chunks(n, work: n, minWork: 1 << 17) { r in
            var j = r.lowerBound
            while j + 8 <= r.upperBound { store8(load8(a + j) + load8(b + j), y + j); j += 8 }
            while j < r.upperBound { y[j] = a[j] + b[j]; j += 1 }
        }
    }

    /// y = max(a + b, 0) (a residual block's sum and activation in one pass)
    public static func addReLU(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int, engine: Engine) {
        engine.chunks(n, work: n, minWork: 1 << 17) { r in
            var j = r.lowerBound
            let zero = SIMD8<Float>()
            while j + 8 <= r.upperBound {
                let v = load8(a + j) + load8(b + j)
                store8(v.replacing(with: zero, where: v .< zero), y + j)
                j += 8
            }
            while j < r.upperBound { y[j] = max(a[j] + b[j], 0); j += 1 }
        }
    }

    /// y += x
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int, engine: Engine) {
        engine.chunks(n, work: n, minWork: 1 << 17) { r in
            Vector.add(x + r.lowerBound, into: y + r.lowerBound, count: r.count)
        }
    }
}
