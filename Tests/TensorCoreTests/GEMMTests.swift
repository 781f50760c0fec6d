import TensorCore
import Testing
import _TestSupport

@Suite struct GEMMTests {
    init() { BLAS.configure() }

    func naive(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: [Float], lda: Int, b: [Float], ldb: Int,
               beta: Float, c: [Float], ldc: Int) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                out[i * ldc + j] = Float(s) + beta * c[i * ldc + j]
            }
        }
        return out
    }

    // Shapes hit the single-call path, the column split (large n) and the reduction split (large k).
    @Test(arguments: [(5, 7, 3), (16, 4000, 24), (12, 10, 6000)])
    func matchesNaive(m: Int, n: Int, k: Int) {
        let rng = RNG(seed: 3)
        let scratch = ScratchBuffer()
        for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
            let lda = (transA ? m : k) + 2, ldb = (transB ? k : n) + 1, ldc = n + 3
            let a = (0..<((transA ? k : m) * lda)).map { _ in Float(rng.normal()) }
            let b = (0..<((transB ? n : k) * ldb)).map { _ in Float(rng.normal()) }
            let c = (0..<(m * ldc)).map { _ in Float(rng.normal()) }
            var out = c
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    out.withUnsafeMutableBufferPointer { pc in
                        GEMM.multiply(transA: transA, transB: transB, m: m, n: n, k: k, a: pa.baseAddress!, lda: lda,
                                      b: pb.baseAddress!, ldb: ldb, beta: 0.5, c: pc.baseAddress!, ldc: ldc, scratch: scratch, engine: Engine(threads: 2))
                    }
                }
            }
            let ref = naive(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: 0.5, c: c, ldc: ldc)
            let tol = Float(k).squareRoot() * 1e-5 * 4
            #expect(maxAbsDifference(out, ref) < tol, "m \(m) n \(n) k \(k) transA \(transA) transB \(transB)")
        }
    }

    @Test func fastKernelsSelected() {
        // Debian's OpenBLAS 0.3.21 falls back to Prescott on this CPU unless re-initialised.
        let name = BLAS.configure()
        #expect(name != "Prescott", "OpenBLAS kept its slow SSE3 kernels")
    }
}
