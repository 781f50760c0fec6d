import Layers
import TensorCore
import Testing
import _TestSupport

/// A layer running on a leading slice of its channels equals a fresh layer built from the
/// copied slice, forward and backward; the big layer's gradient lands in the same window.
@Suite struct SliceTests {
    @Test(arguments: [1, 3])
    func convSliceEqualsFreshConv(kernel: Int) {
        let rng = RNG(seed: 21)
        let maxIn = 6, maxOut = 8, cin = 4, cout = 5
        let big = Conv2D(name: "big", inputChannels: maxIn, outputChannels: maxOut, kernel: kernel, stride: 1)
        randomize(big.weight, rng: rng)
        let small = Conv2D(name: "small", inputChannels: cin, outputChannels: cout, kernel: kernel, stride: 1)
        let kk = kernel * kernel
        for o in 0..<cout { for i in 0..<(cin * kk) { small.weight.value[o * cin * kk + i] = big.weight.value[o * maxIn * kk + i] } }
        let x = OwnedMap.random(channels: cin, height: 5, width: 5, batch: 3, rng: rng)
        let yb = big.forward(x.map, outputChannels: cout, mode: .training).toArray()
        let ys = small.forward(x.map, outputChannels: cout, mode: .training).toArray()
        #expect(maxAbsDifference(yb, ys) == 0)
        let g = OwnedMap.random(channels: cout, height: 5, width: 5, batch: 3, rng: rng)
        let dxb = big.backward(g.map)!.toArray()
        let dxs = small.backward(g.map)!.toArray()
        #expect(maxAbsDifference(dxb, dxs) < 1e-5)
        for o in 0..<maxOut {
            for i in 0..<(maxIn * kk) {
                let gb = big.weight.grad[o * maxIn * kk + i]
                if o < cout && i < cin * kk {
                    #expect(abs(gb - small.weight.grad[o * cin * kk + i]) < 1e-4)
                } else {
                    #expect(gb == 0)
                }
            }
        }
    }

    @Test func depthwiseAndBatchNormSlices() {
        let rng = RNG(seed: 22)
        let maxC = 7, c = 3
        let dwBig = DepthwiseConv2D(name: "dw", channels: maxC, kernel: 5, stride: 2)
        randomize(dwBig.weight, rng: rng)
        let dwSmall = DepthwiseConv2D(name: "dws", channels: c, kernel: 5, stride: 2)
        dwSmall.weight.value.update(from: dwBig.weight.value, count: c * 25)
        let x = OwnedMap.random(channels: c, height: 9, width: 9, batch: 10, rng: rng)
        #expect(dwBig.forward(x.map, mode: .training).toArray() == dwSmall.forward(x.map, mode: .training).toArray())

        let bnBig = BatchNorm(name: "bn", channels: maxC, relu: true)
        randomize(bnBig.gamma, rng: rng, scale: 0.2, offset: 1)
        randomize(bnBig.beta, rng: rng, scale: 0.2)
        let bnSmall = BatchNorm(name: "bns", channels: c, relu: true)
        bnSmall.gamma.value.update(from: bnBig.gamma.value, count: c)
        bnSmall.beta.value.update(from: bnBig.beta.value, count: c)
        let yb = bnBig.forward(x.map, mode: .training).toArray()
        #expect(yb == bnSmall.forward(x.map, mode: .training).toArray())
        // Running statistics move only inside the active slice.
        for i in 0..<maxC {
            if i < c {
                #expect(bnBig.runningMean[i] == bnSmall.runningMean[i] && bnBig.runningMean[i] != 0)
            } else {
                #expect(bnBig.runningMean[i] == 0 && bnBig.runningVariance[i] == 1)
            }
        }
        #expect(bnBig.forward(x.map, mode: .inference).toArray() == bnSmall.forward(x.map, mode: .inference).toArray())
    }

    @Test func batchNormStatisticsFollowPyTorch() {
        // running = 0.9 * running + 0.1 * stat, unbiased variance in the running average.
        let values: [Float] = [1, 2, 3, 4, 6, 8]   // one channel, 6 samples
        let x = OwnedMap(channels: 1, height: 1, width: 1, batch: 6, values: values)
        let bn = BatchNorm(name: "bn", channels: 1)
        let y = bn.forward(x.map, mode: .training).toArray()
        let mean: Float = 4, biased: Float = (9 + 4 + 1 + 0 + 4 + 16) / 6, unbiased: Float = 34 / 5
        #expect(abs(bn.runningMean[0] - 0.1 * mean) < 1e-6)
        #expect(abs(bn.runningVariance[0] - (0.9 + 0.1 * unbiased)) < 1e-5)
        for (yi, xi) in zip(y, values) { #expect(abs(yi - (xi - mean) / (biased + 1e-5).squareRoot()) < 1e-5) }
        // Calibration: cumulative average over batches since the reset.
        bn.resetRunningStatistics()
        let x2 = OwnedMap(channels: 1, height: 1, width: 1, batch: 6, values: values.map { $0 + 10 })
        _ = bn.forward(x.map, mode: .calibrating)
        _ = bn.forward(x2.map, mode: .calibrating)
        #expect(abs(bn.runningMean[0] - 9) < 1e-5)        // (4 + 14) / 2
        #expect(abs(bn.runningVariance[0] - unbiased) < 1e-4)
        #expect(bn.calibrationBatches == 2)
    }
}
