import Layers
import TensorCore
import Testing
import _TestSupport

/// Finite-difference checks of every layer's backward, at width 1, a middle width and the
/// maximum width, every kernel size and both strides.
@Suite struct GradientTests {
    let check = GradientCheck()

    func expectClean(_ failures: [GradientCheck.Failure], _ label: String) {
        #expect(failures.isEmpty, "\(label): \(failures.prefix(5).map(\.description).joined(separator: "; "))")
    }

    @Test(arguments: [(1, 1), (1, 3), (2, 3), (1, 5), (2, 5), (1, 7), (2, 7)])
    func conv2D(stride: Int, kernel: Int) {
        let rng = RNG(seed: UInt64(stride * 10 + kernel))
        let maxIn = 5, maxOut = 6
        let conv = Conv2D(name: "conv", inputChannels: maxIn, outputChannels: maxOut, kernel: kernel, stride: stride)
        randomize(conv.weight, rng: rng, scale: 0.5)
        for (cin, cout) in [(1, 1), (3, 4), (maxIn, maxOut)] {
            let x = OwnedMap.random(channels: cin, height: 7, width: 6, batch: 3, rng: rng)
            let failures = check.run(
                input: x.map,
                parameters: [(conv.weight, windowIndices(rows: cout, cols: cin, allCols: maxIn, inner: kernel * kernel))],
                forward: { conv.forward(x.map, outputChannels: cout, mode: .training) },
                backward: { conv.backward($0) }, rng: rng)
            expectClean(failures, "conv k\(kernel) s\(stride) \(cin)->\(cout)")
        }
    }

    @Test(arguments: [(1, 3), (2, 3), (1, 5), (2, 5), (1, 7), (2, 7)])
    func depthwise(stride: Int, kernel: Int) {
        let rng = RNG(seed: UInt64(100 + stride * 10 + kernel))
        let maxC = 6
        let dw = DepthwiseConv2D(name: "dw", channels: maxC, kernel: kernel, stride: stride)
        randomize(dw.weight, rng: rng, scale: 0.5)
        // Batch 37 exercises the 32-wide, 8-wide and scalar paths of the batch-vector kernels.
        for (c, batch) in [(1, 3), (4, 37), (maxC, 13)] {
            let x = OwnedMap.random(channels: c, height: 8, width: 7, batch: batch, rng: rng)
            let failures = check.run(
                input: x.map,
                parameters: [(dw.weight, Array(0..<(c * kernel * kernel)))],
                forward: { dw.forward(x.map, mode: .training) },
                backward: { dw.backward($0) }, rng: rng)
            expectClean(failures, "depthwise k\(kernel) s\(stride) c\(c) n\(batch)")
        }
    }

    @Test(arguments: [false, true])
    func batchNorm(relu: Bool) {
        let rng = RNG(seed: relu ? 7 : 8)
        let maxC = 5
        let bn = BatchNorm(name: "bn", channels: maxC, relu: relu)
        randomize(bn.gamma, rng: rng, scale: 0.3, offset: 1)
        randomize(bn.beta, rng: rng, scale: 0.3)
        let probe = check
        for c in [1, 3, maxC] {
            let x = OwnedMap.random(channels: c, height: 3, width: 4, batch: 5, rng: rng)
            let failures = probe.run(
                input: x.map, parameters: [(bn.gamma, Array(0..<c)), (bn.beta, Array(0..<c))],
                forward: { bn.forward(x.map, mode: .training) },
                backward: { bn.backward($0) }, rng: rng)
            // A fused ReLU has kinks: allow a coordinate whose output sits within epsilon of 0.
            let y = bn.forward(x.map, mode: .training).toArray()
            let nearKink = y.filter { abs($0) < 0.05 }.count
            #expect(failures.count <= (relu ? nearKink : 0), "bn relu=\(relu) c\(c): \(failures.prefix(5))")
        }
    }

    @Test func reluPoolLinear() {
        let rng = RNG(seed: 11)
        let relu = ReLU()
        let x = OwnedMap.random(channels: 3, height: 4, width: 4, batch: 5, rng: rng, avoidZero: 0.05)
        expectClean(check.run(input: x.map, parameters: [], forward: { relu.forward(x.map, mode: .training) },
                              backward: { relu.backward($0) }, rng: rng), "relu")
        let pool = GlobalAveragePool()
        expectClean(check.run(input: x.map, parameters: [], forward: { pool.forward(x.map, mode: .training) },
                              backward: { pool.backward($0) }, rng: rng), "pool")
        let fc = Linear(name: "fc", inputFeatures: 6, outputFeatures: 4)
        randomize(fc.weight, rng: rng); randomize(fc.bias, rng: rng)
        for (fin, fout) in [(1, 1), (3, 2), (6, 4)] {
            let v = OwnedMap.random(channels: fin, height: 1, width: 1, batch: 9, rng: rng)
            expectClean(check.run(input: v.map,
                                  parameters: [(fc.weight, windowIndices(rows: fout, cols: fin, allCols: 6)), (fc.bias, Array(0..<fout))],
                                  forward: { fc.forward(v.map, outputFeatures: fout, mode: .training) },
                                  backward: { fc.backward($0) }, rng: rng), "linear \(fin)->\(fout)")
        }
    }

    @Test func channelOps() {
        let rng = RNG(seed: 12)
        let x = OwnedMap.random(channels: 6, height: 2, width: 3, batch: 4, rng: rng)
        let shuffle = ChannelShuffle(groups: 2)
        expectClean(check.run(input: x.map, parameters: [], forward: { shuffle.forward(x.map) },
                              backward: { shuffle.backward($0) }, rng: rng), "shuffle")
        let shuffle3 = ChannelShuffle(groups: 3)
        expectClean(check.run(input: x.map, parameters: [], forward: { shuffle3.forward(x.map) },
                              backward: { shuffle3.backward($0) }, rng: rng), "shuffle g3")
        // Shuffle semantics: output 2i = input i, output 2i+1 = input C/2 + i.
        let y = shuffle.forward(x.map)
        let plane = x.map.plane
        for i in 0..<3 {
            #expect(Array(UnsafeBufferPointer(start: y.pointer + 2 * i * plane, count: plane))
                    == Array(UnsafeBufferPointer(start: x.map.pointer + i * plane, count: plane)))
            #expect(Array(UnsafeBufferPointer(start: y.pointer + (2 * i + 1) * plane, count: plane))
                    == Array(UnsafeBufferPointer(start: x.map.pointer + (3 + i) * plane, count: plane)))
        }
        // Interleave == shuffle(concat(a, b)), forward and backward.
        let interleave = ChannelInterleave()
        let a = x.map.channels(0..<3), b = x.map.channels(3..<6)
        #expect(interleave.forward(a, b).toArray() == shuffle.forward(x.map).toArray())
        let g = OwnedMap.random(channels: 6, height: 2, width: 3, batch: 4, rng: rng)
        let gradA = OwnedMap(channels: 3, height: 2, width: 3, batch: 4)
        let gradB = interleave.backward(g.map, gradFirst: gradA.map)
        let reference = shuffle.backward(g.map)
        #expect(gradA.values + gradB.toArray() == reference.toArray())
        // Concat of a split is the identity; its backward hands back the matching slices.
        let concat = ChannelConcat()
        let joined = concat.forward([x.map.channels(0..<2), x.map.channels(2..<6)])
        #expect(joined.toArray() == x.values)
        let parts = concat.backward(x.map)
        #expect(parts.map(\.channels) == [2, 4])
        #expect(parts[1].toArray() == x.map.channels(2..<6).toArray())
    }

    @Test(arguments: [Float(0), Float(0.1)])
    func crossEntropy(smoothing: Float) {
        let rng = RNG(seed: 13)
        let z = OwnedMap.random(channels: 5, height: 1, width: 1, batch: 4, rng: rng)
        let labels: [Int32] = [0, 3, 4, 1]
        let ce = SoftmaxCrossEntropy(labelSmoothing: smoothing)
        let result = labels.withUnsafeBufferPointer { ce.evaluate(logits: z.map, labels: $0, gradient: true) }
        let analytic = result.gradient!.toArray()
        // Hand-computed loss and numeric gradient.
        func loss(_ v: [Float]) -> Double {
            var total = 0.0
            for n in 0..<4 {
                let logits = (0..<5).map { Double(v[$0 * 4 + n]) }
                let m = logits.max()!
                let lse = m + _TestSupport.log(logits.map { _TestSupport.exp($0 - m) }.reduce(0, +))
                for k in 0..<5 {
                    let q = (k == Int(labels[n]) ? 1 - Double(smoothing) : 0) + Double(smoothing) / 5
                    total -= q * (logits[k] - lse)
                }
            }
            return total / 4
        }
        var v = z.values
        #expect(abs(result.loss - loss(v)) < 1e-6)
        for i in 0..<v.count {
            let s = v[i]
            v[i] = s + 1e-3; let lp = loss(v)
            v[i] = s - 1e-3; let lm = loss(v)
            v[i] = s
            #expect(abs((lp - lm) / 2e-3 - Double(analytic[i])) < 1e-4)
        }
    }

    @Test func distillationLoss() {
        let rng = RNG(seed: 14)
        let z = OwnedMap.random(channels: 5, height: 1, width: 1, batch: 4, rng: rng)
        let labels: [Int32] = [0, 3, 4, 1]
        // A teacher whose output is the labels' one-hot: exactly plain cross-entropy.
        var oneHot = [Float](repeating: 0, count: 20)
        for (n, l) in labels.enumerated() { oneHot[Int(l) * 4 + n] = 1 }
        // The gradient lives in the loss object's scratch buffer: keep each object alive while
        // its gradient is read (a temporary's buffer is freed at once).
        let hardLoss = SoftmaxCrossEntropy(), softLoss = SoftmaxCrossEntropy()
        let plain = labels.withUnsafeBufferPointer { hardLoss.evaluate(logits: z.map, labels: $0, gradient: true) }
        let plainGradient = plain.gradient!.toArray()
        let soft = oneHot.withUnsafeBufferPointer { softLoss.evaluate(logits: z.map, targets: $0.baseAddress!, gradient: true) }
        #expect(soft.loss == plain.loss && soft.correct == plain.correct)
        #expect(soft.gradient!.toArray() == plainGradient)
        withExtendedLifetime((hardLoss, softLoss)) {}
        // A soft teacher: the gradient is the finite difference of the loss.
        let teacher = OwnedMap.random(channels: 5, height: 1, width: 1, batch: 4, rng: rng)
        let t = SoftmaxCrossEntropy.softmax(teacher.map)
        for n in 0..<4 { #expect(abs((0..<5).reduce(0) { $0 + Double(t[$1 * 4 + n]) } - 1) < 1e-6) }
        let ce = SoftmaxCrossEntropy()
        let analytic = t.withUnsafeBufferPointer { ce.evaluate(logits: z.map, targets: $0.baseAddress!, gradient: true) }.gradient!.toArray()
        var v = z.values
        func loss(_ v: [Float]) -> Double {
            let m = OwnedMap(channels: 5, height: 1, width: 1, batch: 4, values: v)
            return t.withUnsafeBufferPointer { ce.evaluate(logits: m.map, targets: $0.baseAddress!, gradient: false).loss }
        }
        for i in 0..<v.count {
            let s = v[i]
            v[i] = s + 1e-2; let lp = loss(v)
            v[i] = s - 1e-2; let lm = loss(v)
            v[i] = s
            #expect(abs((lp - lm) / 2e-2 - Double(analytic[i])) < 2e-4)
        }
    }
}

@Suite("quantization-aware training") struct QATGradientTests {
    /// The frozen BatchNorm with fake-quantized output: its backward (the straight-through
    /// estimator) against finite differences of the same layer with the rounding replaced by
    /// the identity inside the grid's range and a constant outside — equal except at the kinks.
    @Test(arguments: [false, true])
    func straightThroughInsideTheRange(relu: Bool) {
        let rng = RNG(seed: relu ? 21 : 22)
        let bn = BatchNorm(name: "bn", channels: 4, relu: relu)
        randomize(bn.gamma, rng: rng, scale: 0.3, offset: 1)
        randomize(bn.beta, rng: rng, scale: 0.3)
        for c in 0..<4 { bn.runningMean[c] = Float(c) * 0.1 - 0.1; bn.runningVariance[c] = 0.5 + Float(c) * 0.2 }
        bn.frozen = true
        let grid = FakeQuantization(minimum: -0.6, maximum: 0.9)
        let x = OwnedMap.random(channels: 4, height: 3, width: 3, batch: 4, rng: rng)
        let clipped = OwnedMap(channels: 4, height: 3, width: 3, batch: 4)
        let failures = GradientCheck().run(
            input: x.map, parameters: [(bn.gamma, Array(0..<4)), (bn.beta, Array(0..<4))],
            forward: {
                bn.fakeQuantization = nil
                let y = bn.forward(x.map, mode: .training)
                for i in 0..<y.count { clipped.map.pointer[i] = min(max(y.pointer[i], grid.lower), grid.upper) }
                return clipped.map
            },
            backward: { dy in
                bn.fakeQuantization = grid
                _ = bn.forward(x.map, mode: .training)
                return bn.backward(dy)
            }, rng: rng)
        bn.fakeQuantization = nil
        let y = bn.forward(x.map, mode: .training).toArray()
        let nearKink = y.filter { abs($0) < 0.05 || abs($0 - grid.lower) < 0.05 || abs($0 - grid.upper) < 0.05 }.count
        #expect(y.contains { $0 > grid.upper } || y.contains { $0 < grid.lower }, "the range clips some outputs")
        #expect(failures.count <= nearKink, "\(failures.prefix(5))")
        // The running statistics stay as they were: a frozen BN learns only gamma and beta.
        #expect(bn.runningMean[2] == 0.1 && bn.runningVariance[3] == 0.5 + 3 * 0.2)
    }

    @Test("the fake-quantized forward is the grid's rounding of the frozen output")
    func forwardRounds() {
        let rng = RNG(seed: 5)
        let bn = BatchNorm(name: "bn", channels: 3, relu: true)
        randomize(bn.gamma, rng: rng, scale: 0.3, offset: 1)
        bn.frozen = true
        let x = OwnedMap.random(channels: 3, height: 2, width: 2, batch: 3, rng: rng)
        let plain = bn.forward(x.map, mode: .training).toArray()
        let grid = FakeQuantization(minimum: 0, maximum: 1.5)
        bn.fakeQuantization = grid
        let rounded = bn.forward(x.map, mode: .training).toArray()
        #expect(rounded == plain.map { grid.apply($0) })
        #expect(Set(rounded).count < Set(plain).count || plain.count < 4)
    }
}
