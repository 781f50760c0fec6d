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

@Suite struct OptimizerTests {
    @Test func nesterovMomentumMatchesHandComputation() {
        let p = Parameter(name: "w", shape: [2], decays: true, initialValue: 1)
        let b = Parameter(name: "b", shape: [1], decays: false, initialValue: 1)
        let idle = Parameter(name: "idle", shape: [1], decays: true, initialValue: 5)
        let sgd = SGD(momentum: 0.9, nesterov: true, weightDecay: 0.1)
        // Step 1: grad [0.5, 0] (second entry inactive: zero grad, still decayed).
        p.grad[0] = 0.5; p.touched = true
        b.grad[0] = 0.5; b.touched = true
        sgd.step([p, b, idle], learningRate: 0.1)
        // g = 0.5 + 0.1*1 = 0.6; v = 0.6; d = 0.6 + 0.9*0.6 = 1.14; w = 1 - 0.114
        #expect(abs(p.value[0] - 0.886) < 1e-6)
        // inactive: g = 0.1; v = 0.1; d = 0.19; w = 0.981
        #expect(abs(p.value[1] - 0.981) < 1e-6)
        // no decay on b: g = 0.5; d = 0.95; b = 0.905
        #expect(abs(b.value[0] - 0.905) < 1e-6)
        #expect(idle.value[0] == 5 && !idle.hasVelocity)
        #expect(p.grad[0] == 0 && !p.touched)
        // Step 2 on p: grad 0.2 -> g = 0.2 + 0.0886 = 0.2886; v = 0.54 + 0.2886 = 0.8286; d = 0.2886 + 0.74574
        p.grad[0] = 0.2; p.touched = true
        sgd.step([p], learningRate: 0.1)
        #expect(abs(p.value[0] - (0.886 - 0.1 * (0.2886 + 0.9 * 0.8286))) < 1e-6)
    }

    @Test func schedules() {
        let cos = LRSchedule(base: 0.1, shape: .cosine, totalSteps: 100)
        #expect(cos.rate(at: 0) == 0.1)
        #expect(abs(cos.rate(at: 50) - 0.05) < 1e-7)
        #expect(cos.rate(at: 100) < 1e-9)
        let lin = LRSchedule(base: 0.2, shape: .linear, totalSteps: 10)
        #expect(abs(lin.rate(at: 5) - 0.1) < 1e-7)
        let step = LRSchedule(base: 1, shape: .step(every: 3, gamma: 0.5), totalSteps: 10)
        #expect(step.rate(at: 2) == 1 && step.rate(at: 3) == 0.5 && step.rate(at: 7) == 0.25)
        let warm = LRSchedule(base: 0.4, shape: .constant, totalSteps: 10, warmupSteps: 4)
        #expect(warm.rate(at: 0) == 0.1 && warm.rate(at: 3) == 0.4 && warm.rate(at: 8) == 0.4)
    }
}
