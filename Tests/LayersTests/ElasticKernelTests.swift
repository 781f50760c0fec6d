import Layers
import TensorCore
import Testing
import _TestSupport

/// Depthwise layers shared by several kernel sizes (Once-for-All's elastic kernel): the
/// gradient through crop and learned transform, and equality with a plain layer holding
/// the derived weights.
@Suite struct ElasticKernelTests {
    let check = GradientCheck()

    func elastic(transform: Bool, stride: Int, rng: RNG) -> DepthwiseConv2D {
        let dw = DepthwiseConv2D(name: "dw", channels: 5, kernel: 7, stride: stride, kernelSizes: [3, 5, 7], learnedTransform: transform)
        randomize(dw.weight, rng: rng, scale: 0.5)
        // Transforms away from the identity, so a transposed or skipped matrix shows.
        for t in dw.parameters.dropFirst() { randomize(t, rng: rng, scale: 0.3); for i in 0..<t.shape[0] { t.value[i * t.shape[0] + i] += 1 } }
        return dw
    }

    @Test(arguments: [(false, 1), (true, 1), (true, 2)])
    func gradientThroughCropAndTransform(transform: Bool, stride: Int) {
        let rng = RNG(seed: transform ? 31 : 32)
        let dw = elastic(transform: transform, stride: stride, rng: rng)
        #expect(dw.parameters.count == (transform ? 3 : 1))
        for (k, c) in [(3, 4), (5, 5), (7, 2)] {
            let x = OwnedMap.random(channels: c, height: 8, width: 7, batch: 5, rng: rng)
            var params: [(Parameter, [Int])] = [(dw.weight, Array(0..<(c * 49)))]
            for t in dw.parameters.dropFirst() { params.append((t, Array(0..<t.count))) }
            let failures = check.run(input: x.map, parameters: params,
                                     forward: { dw.forward(x.map, mode: .training, kernel: k) },
                                     backward: { dw.backward($0) }, rng: rng)
            #expect(failures.isEmpty, "transform \(transform) k\(k) c\(c): \(failures.prefix(5).map(\.description))")
            for p in dw.parameters { p.zeroGradient() }
        }
    }

    @Test(arguments: [false, true])
    func smallerSizeEqualsPlainLayerWithDerivedWeights(transform: Bool) {
        let rng = RNG(seed: 40)
        let dw = elastic(transform: transform, stride: 2, rng: rng)
        let x = OwnedMap.random(channels: 4, height: 9, width: 9, batch: 6, rng: rng)
        for k in [3, 5, 7] {
            let plain = DepthwiseConv2D(name: "plain", channels: 4, kernel: k, stride: 2)
            let w = dw.kernelWeights(k, channels: 4)
            plain.weight.value.update(from: w, count: w.count)
            #expect(dw.forward(x.map, mode: .inference, kernel: k).toArray() == plain.forward(x.map, mode: .inference).toArray(), "k\(k)")
        }
        // Without a transform a smaller kernel is the centre of the largest, exactly.
        if !transform {
            let w3 = dw.kernelWeights(3, channels: 1)
            let centre = (0..<9).map { dw.weight.value[(2 + $0 / 3) * 7 + 2 + $0 % 3] }
            #expect(w3 == centre)
        }
    }

    @Test func transformStartsAsIdentity() {
        let dw = DepthwiseConv2D(name: "dw", channels: 3, kernel: 5, kernelSizes: [3, 5], learnedTransform: true)
        randomize(dw.weight, rng: RNG(seed: 1))
        let m = dw.parameters[1]
        #expect(m.name == "dw.kernel_transform.3" && m.shape == [9, 9] && !m.decays)
        let centre = (0..<3).flatMap { c in (0..<9).map { dw.weight.value[c * 25 + (1 + $0 / 3) * 5 + 1 + $0 % 3] } }
        #expect(dw.kernelWeights(3, channels: 3) == centre)
    }
}
