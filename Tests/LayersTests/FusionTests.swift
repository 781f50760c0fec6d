import Layers
import TensorCore
import Testing
import _TestSupport

/// Inference folds each BatchNorm into the convolution before it; the result must match
/// running the layers one after the other.
@Suite struct FusionTests {
    func trainedNorm(_ channels: Int, relu: Bool, rng: RNG) -> BatchNorm {
        let bn = BatchNorm(name: "bn", channels: channels, relu: relu)
        randomize(bn.gamma, rng: rng, scale: 0.3, offset: 1)
        randomize(bn.beta, rng: rng, scale: 0.3)
        for c in 0..<channels { bn.runningMean[c] = Float(rng.normal()) * 0.2; bn.runningVariance[c] = 0.5 + Float(rng.uniform()) }
        return bn
    }

    @Test(arguments: [false, true])
    func foldedEqualsSeparate(relu: Bool) {
        let rng = RNG(seed: 31)
        let x = OwnedMap.random(channels: 5, height: 7, width: 7, batch: 11, rng: rng)
        // Pointwise conv (GEMM + in-place epilogue).
        let pw = Conv2D(name: "pw", inputChannels: 5, outputChannels: 6, kernel: 1)
        randomize(pw.weight, rng: rng)
        let bn = trainedNorm(6, relu: relu, rng: rng)
        let separate = bn.forward(pw.forward(x.map, outputChannels: 4, mode: .inference), mode: .inference).toArray()
        let folded = pw.forward(x.map, outputChannels: 4, mode: .inference, epilogue: bn.inferenceEpilogue(channels: 4)).toArray()
        #expect(maxAbsDifference(separate, folded) < 1e-5)
        // Depthwise, stride 2 (epilogue in the kernel).
        let dw = DepthwiseConv2D(name: "dw", channels: 5, kernel: 5, stride: 2)
        randomize(dw.weight, rng: rng)
        let bn5 = trainedNorm(5, relu: relu, rng: rng)
        let dSeparate = bn5.forward(dw.forward(x.map, mode: .inference), mode: .inference).toArray()
        let dFolded = dw.forward(x.map, mode: .inference, epilogue: bn5.inferenceEpilogue(channels: 5)).toArray()
        #expect(maxAbsDifference(dSeparate, dFolded) < 1e-5)
        // Few-channel dense conv: direct kernel (inference) == im2col + GEMM (training).
        let stem = Conv2D(name: "stem", inputChannels: 3, outputChannels: 4, kernel: 3, stride: 2)
        randomize(stem.weight, rng: rng)
        let x3 = x.map.channels(0..<3)
        let viaGEMM = bn.forward(stem.forward(x3, outputChannels: 4, mode: .training), mode: .inference).toArray()
        let direct = stem.forward(x3, outputChannels: 4, mode: .inference, epilogue: bn.inferenceEpilogue(channels: 4)).toArray()
        #expect(maxAbsDifference(viaGEMM, direct) < 1e-5)
    }

    @Test(arguments: [false, true])
    func calibrationInPlaceEqualsSeparate(relu: Bool) {
        let rng = RNG(seed: 32)
        let x = OwnedMap.random(channels: 5, height: 7, width: 7, batch: 11, rng: rng)
        let dw = DepthwiseConv2D(name: "dw", channels: 5, kernel: 3, stride: 2)
        randomize(dw.weight, rng: rng)
        let a = trainedNorm(5, relu: relu, rng: rng), b = BatchNorm(name: "b", channels: 5, relu: relu)
        b.gamma.value.update(from: a.gamma.value, count: 5); b.beta.value.update(from: a.beta.value, count: 5)
        a.resetRunningStatistics(); b.resetRunningStatistics()
        let stats = UnsafeMutablePointer<Double>.allocate(capacity: 10)
        defer { stats.deallocate() }
        for _ in 0..<2 {   // two calibration batches: the cumulative average must agree too
            let separate = a.forward(dw.forward(x.map, mode: .calibrating), mode: .calibrating).toArray()
            let fused = b.calibrateInPlace(dw.forward(x.map, mode: .calibrating, statistics: stats), statistics: stats).toArray()
            #expect(maxAbsDifference(separate, fused) < 1e-5)
        }
        for c in 0..<5 {
            #expect(abs(a.runningMean[c] - b.runningMean[c]) < 1e-6)
            #expect(abs(a.runningVariance[c] - b.runningVariance[c]) < 1e-5)
        }
        // Without producer statistics it computes them itself.
        let c = BatchNorm(name: "c", channels: 5, relu: relu)
        let y = OwnedMap(channels: 5, height: 7, width: 7, batch: 11, values: x.values)
        let d = BatchNorm(name: "d", channels: 5, relu: relu)   // kept alive: its buffer holds the output
        let expected = d.forward(x.map, mode: .calibrating).toArray()
        #expect(maxAbsDifference(c.calibrateInPlace(y.map, statistics: nil).toArray(), expected) < 1e-5)
    }
}
