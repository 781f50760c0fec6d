import TensorCore
import Testing
import _TestSupport

@Suite struct ConvKernelTests {
    /// Direct loop reference of a depthwise convolution on [C, H, W, N].
    func naiveDepthwise(_ x: [Float], c: Int, h: Int, w: Int, n: Int, weights: [Float], k: Int, s: Int) -> [Float] {
        let p = k / 2
        let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
        var out = [Float](repeating: 0, count: c * ho * wo * n)
        for ch in 0..<c { for oy in 0..<ho { for ox in 0..<wo { for b in 0..<n {
            var acc: Float = 0
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s + ky - p, ix = ox * s + kx - p
                if iy >= 0 && iy < h && ix >= 0 && ix < w { acc += weights[(ch * k + ky) * k + kx] * x[((ch * h + iy) * w + ix) * n + b] }
            } }
            out[((ch * ho + oy) * wo + ox) * n + b] = acc
        } } } }
        return out
    }

    @Test(arguments: [3, 5, 7])
    func depthwiseMatchesNaive(kernel: Int) {
        let rng = RNG(seed: UInt64(kernel))
        for stride in [1, 2] {
            for n in [1, 13, 37] {
                let c = 3, h = 9, w = 8
                let x = OwnedMap.random(channels: c, height: h, width: w, batch: n, rng: rng)
                let weights = (0..<(c * kernel * kernel)).map { _ in Float(rng.normal()) }
                let ho = Depthwise.outputSize(h, kernel: kernel, stride: stride, padding: kernel / 2)
                let wo = Depthwise.outputSize(w, kernel: kernel, stride: stride, padding: kernel / 2)
                let y = OwnedMap(channels: c, height: ho, width: wo, batch: n)
                weights.withUnsafeBufferPointer {
                    Depthwise.forward(input: x.map, weights: $0.baseAddress!, kernel: kernel, stride: stride, padding: kernel / 2, output: y.map, engine: Engine(threads: 2))
                }
                let ref = naiveDepthwise(x.values, c: c, h: h, w: w, n: n, weights: weights, k: kernel, s: stride)
                #expect(maxAbsDifference(y.values, ref) < 1e-4, "k \(kernel) s \(stride) n \(n)")
            }
        }
    }

    @Test func col2imIsTheAdjointOfIm2col() {
        // <im2col(x), g> == <x, col2im(g)> for any x, g.
        let rng = RNG(seed: 9)
        for (k, s) in [(3, 1), (3, 2), (5, 2), (7, 1)] {
            let x = OwnedMap.random(channels: 2, height: 7, width: 6, batch: 3, rng: rng)
            let ho = Depthwise.outputSize(7, kernel: k, stride: s, padding: k / 2)
            let wo = Depthwise.outputSize(6, kernel: k, stride: s, padding: k / 2)
            let rows = 2 * k * k, cols = ho * wo * 3
            var col = [Float](repeating: 0, count: rows * cols)
            col.withUnsafeMutableBufferPointer {
                Im2col.forward(x.map, kernel: k, stride: s, padding: k / 2, outputHeight: ho, outputWidth: wo, into: $0.baseAddress!, engine: Engine(threads: 2))
            }
            let g = (0..<(rows * cols)).map { _ in Float(rng.normal()) }
            let dx = OwnedMap(channels: 2, height: 7, width: 6, batch: 3)
            g.withUnsafeBufferPointer {
                Im2col.backward($0.baseAddress!, kernel: k, stride: s, padding: k / 2, outputHeight: ho, outputWidth: wo, into: dx.map, engine: Engine(threads: 2))
            }
            let lhs = zip(col, g).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x.values, dx.values).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(lhs - rhs) < 1e-3 * max(1, abs(lhs)), "k \(k) s \(s)")
        }
    }

    @Test func reluAndSums() {
        let x = OwnedMap(channels: 1, height: 1, width: 1, batch: 11, values: [-2, -1, 0, 1, 2, 3, -4, 5, 6, -7, 8])
        let y = OwnedMap(channels: 1, height: 1, width: 1, batch: 11)
        Elementwise.relu(x.map.pointer, y.map.pointer, count: 11, engine: Engine(threads: 2))
        #expect(y.values == [0, 0, 0, 1, 2, 3, 0, 5, 6, 0, 8])
        let (s, q) = Vector.sumAndSquares(x.map.pointer, count: 11)
        #expect(s == 11 && q == 4 + 1 + 0 + 1 + 4 + 9 + 16 + 25 + 36 + 49 + 64)
    }
}
