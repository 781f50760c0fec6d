import Layers
import TensorCore

/// Per-kernel throughput on the reference network's typical shapes (`pare bench --kernels`):
/// memory-bound kernels in GB/s of compulsory traffic, GEMM-bound ones in GFLOP/s.
public struct KernelBench {
    let rng = RNG(seed: 7)
    public init() {}

    func timeIt(_ reps: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = monotonicSeconds()
            for _ in 0..<reps { body() }
            best = min(best, (monotonicSeconds() - t0) / Double(reps))
        }
        return best
    }

    func fill(_ b: ScratchBuffer, _ n: Int) -> UnsafeMutablePointer<Float> {
        let p = b.reserve(n)
        for i in 0..<n { p[i] = Float(rng.normal()) }
        return p
    }

    public func run(log: (String) -> Void) {
        let shapes = [(32, 28, 128), (32, 14, 128), (64, 7, 128), (128, 4, 128), (32, 14, 500)]
        for (c, s, n) in shapes {
            let xb = ScratchBuffer(), gb = ScratchBuffer()
            let count = c * s * s * n
            let x = FeatureMap(pointer: fill(xb, count), channels: c, height: s, width: s, batch: n)
            let g = FeatureMap(pointer: fill(gb, count), channels: c, height: s, width: s, batch: n)
            let mb = Double(count * 4) / 1e6
            let bn = BatchNorm(name: "bn", channels: c, relu: true)
            let tf = timeIt(10) { _ = bn.forward(x, mode: .training) }
            let tb = timeIt(10) { _ = bn.backward(g) }
            let ti = timeIt(10) { _ = bn.forward(x, mode: .inference) }
            let dw = DepthwiseConv2D(name: "dw", channels: c, kernel: 3)
            let tdf = timeIt(10) { _ = dw.forward(x, mode: .training) }
            let tdb = timeIt(10) { _ = dw.backward(g) }
            let pw = Conv2D(name: "pw", inputChannels: c, outputChannels: c, kernel: 1)
            let tpf = timeIt(10) { _ = pw.forward(x, outputChannels: c, mode: .training) }
            let tpb = timeIt(10) { _ = pw.backward(g) }
            let flops = 2.0 * Double(c * count)
            func r(_ v: Double) -> String { String(Double(Int(v * 10)) / 10) }
            log("[C \(c), \(s)x\(s), N \(n)] \(r(mb)) MB: "
                + "BN+ReLU fwd \(r(tf * 1e3)) ms (\(r(2 * mb / tf / 1e3)) GB/s), bwd \(r(tb * 1e3)) ms (\(r(4 * mb / tb / 1e3)) GB/s), inf \(r(ti * 1e3)) ms; "
                + "dw3x3 fwd \(r(tdf * 1e3)) ms (\(r(18 * Double(count) / tdf / 1e9)) GFLOP/s), bwd \(r(tdb * 1e3)) ms; "
                + "conv1x1 fwd \(r(tpf * 1e3)) ms (\(r(flops / tpf / 1e9)) GFLOP/s), bwd \(r(tpb * 1e3)) ms (\(r(2 * flops / tpb / 1e9)) GFLOP/s)")
            withExtendedLifetime((xb, gb)) {}
        }
    }
}
