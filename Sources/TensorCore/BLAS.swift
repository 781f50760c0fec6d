// The only file that calls cblas_*. Row-major single-precision GEMM with the engine's
// own two-way split across threads; OpenBLAS itself always runs single-threaded, because
// calling a multi-threaded BLAS from several threads oversubscribes the cores
// (NUMERICS-FACTS §4) and our elementwise kernels already use both cores.
import CBLAS
import Foundation

public enum BLAS {
    /// Name of the OpenBLAS kernel set in use ("SkylakeX", "Haswell", ... or "Prescott").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Call once at process start before any GEMM. Debian's OpenBLAS 0.3.21 does not know
    /// recent Intel models and falls back to its SSE3 "Prescott" kernels (5-8x slower); this
    /// re-runs the kernel selection with an explicit core type unless the user set one.
    /// Also pins OpenBLAS to one thread (we parallelise around it). Returns the core name.
    /// Safe to call from several threads: the switch runs once per process.
    @discardableResult
    public static func configure() -> String {
        _ = configured
        return coreName
    }

    /// Swift runs a static's initializer once, thread-safely: the kernel switch must not
    /// run while another thread is inside OpenBLAS.
    private static let configured: Bool = {
        if getenv("OPENBLAS_CORETYPE") == nil && coreName == "Prescott" {
            let target: String? = pare_cpu_has_avx512f() != 0 ? "SkylakeX"
                : (pare_cpu_has_avx2_fma() != 0 ? "Haswell" : nil)
            if let target {
                gotoblas_dynamic_quit()
                setenv("OPENBLAS_CORETYPE", target, 1)
                gotoblas_dynamic_init()
            }
        }
        openblas_set_num_threads(1)
        return true
    }()

    /// Plain single-threaded sgemm: C = alpha * op(A) * op(B) + beta * C, row-major.
    /// op(A) is m x k, op(B) is k x n, C is m x n.
    @inlinable
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            scaleMatrix(c, rows: m, cols: n, ld: ldc, by: beta)
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    @usableFromInline
    static func scaleMatrix(_ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, by beta: Float) {
        for r in 0..<rows {
            let row = c + r * ld
            if beta == 0 { row.update(repeating: 0, count: cols) } else { for j in 0..<cols { row[j] *= beta } }
        }
    }
}

/// Two-way parallel GEMM. Splits the columns of C when n is large; otherwise, when the
/// reduction dimension k dominates (weight gradients: k = batch*H*W), splits k and adds the
/// second partial product from `scratch` (which must hold m*n floats).
public enum GEMM {
    /// Work (m*n*k) below which a split costs more than it saves.
    public static let splitThreshold = 1 << 18

    public static func multiply(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
        scratch: ScratchBuffer? = nil, engine: Engine
    ) {
        let threads = engine.threads
        let work = m * n * k
        if threads < 2 || work < splitThreshold {
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                       a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        if n >= 64 && n >= k / 8 {
            // Column split: each half of C depends on the matching half of op(B) only.
            let half = ((n / 2) + 15) & ~15
            engine.forEach(2) { part in
                let j0 = part == 0 ? 0 : half
                let nn = part == 0 ? half : n - half
                let bPart = transB ? b + j0 * ldb : b + j0
                BLAS.sgemm(transA: transA, transB: transB, m: m, n: nn, k: k, alpha: alpha,
                           a: a, lda: lda, b: bPart, ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
            }
        } else if let scratch {
            // Reduction split: C = beta*C + A0*B0 on one thread, T = A1*B1 on the other, C += T.
            let half = k / 2
            let tmp = scratch.reserve(m * n)
            engine.forEach(2) { part in
                let k0 = part == 0 ? 0 : half
                let kk = part == 0 ? half : k - half
                let aPart = transA ? a + k0 * lda : a + k0
                let bPart = transB ? b + k0 : b + k0 * ldb
                if part == 0 {
                    BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: kk, alpha: alpha,
                               a: aPart, lda: lda, b: bPart, ldb: ldb, beta: beta, c: c, ldc: ldc)
                } else {
                    BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: kk, alpha: alpha,
                               a: aPart, lda: lda, b: bPart, ldb: ldb, beta: 0, c: tmp, ldc: n)
                }
            }
            for r in 0..<m {
                let row = c + r * ldc, t = tmp + r * n
                for j in 0..<n { row[j] += t[j] }
            }
        } else {
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                       a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }
}
