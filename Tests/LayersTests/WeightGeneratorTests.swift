import Layers
import TensorCore
import Testing
import _TestSupport

/// PruningNet's weight generators: the gradient through generator and layer, and what the
/// generator starts from.
@Suite struct WeightGeneratorTests {
    @Test(arguments: ["conv", "depthwise"])
    func gradientThroughGeneratorAndLayer(kind: String) {
        let rng = RNG(seed: kind.count == 4 ? 51 : 52)
        let conv = Conv2D(name: "conv", inputChannels: 5, outputChannels: 6, kernel: 3, stride: 1)
        let dw = DepthwiseConv2D(name: "dw", channels: 6, kernel: 5, stride: 2, kernelSizes: [3, 5], learnedTransform: true)
        let target = kind == "conv" ? conv.weight : dw.weight
        randomize(target, rng: rng, scale: 0.5)
        let gen = WeightGenerator(for: target, inputs: 3, hidden: 6, spread: 1, rng: rng)
        // Mixed signs before the ReLU, away from its kink, so both branches are probed.
        for j in 0..<6 { gen.fc1Bias.value[j] = j % 2 == 0 ? 0.8 : -0.9 }
        let encoding: [Float] = [0.6, 1.0, 0.4]
        var check = GradientCheck()
        check.maxCoordinates = 60
        let c = kind == "conv" ? 4 : 3
        let x = OwnedMap.random(channels: c, height: 7, width: 7, batch: 4, rng: rng)
        let failures = check.run(
            input: x.map, parameters: gen.parameters.map { ($0, Array(0..<$0.count)) },
            forward: {
                gen.generate(encoding)
                return kind == "conv" ? conv.forward(x.map, outputChannels: 5, mode: .training) : dw.forward(x.map, mode: .training, kernel: 3)
            },
            backward: { dy in
                let dx = kind == "conv" ? conv.backward(dy) : dw.backward(dy)
                gen.backward()
                return dx
            }, rng: rng)
        #expect(failures.isEmpty, "\(kind): \(failures.prefix(5).map(\.description))")
        // The generated weight itself is not trained: its gradient is handed on and cleared.
        #expect(!target.touched && (0..<target.count).allSatisfy { target.grad[$0] == 0 })
    }

    @Test func startsFromTheLayersInitialisation() {
        let rng = RNG(seed: 53)
        let conv = Conv2D(name: "blocks.0.main.pw1", inputChannels: 4, outputChannels: 8, kernel: 1)
        conv.weight.initializeKaiming(fanOut: 8, rng: rng)
        let initial = conv.weight.tensor.scalars
        let gen = WeightGenerator(for: conv.weight, inputs: 4, rng: rng)
        #expect(gen.fc2Weight.name == "blocks.0.main.pw1.generator.fc2.weight" && gen.fc2Weight.shape == [conv.weight.count, 32])
        gen.generate([1, 1, 1, 1])
        let a = conv.weight.tensor.scalars
        gen.generate([0.25, 0.5, 0.25, 1])
        let b = conv.weight.tensor.scalars
        // The encoding-dependent part is small at first (spread 0.1 of the weights' scale) but real.
        let scale = initial.map { abs($0) }.reduce(0, +) / Float(initial.count)
        let drift = zip(a, initial).map { abs($0 - $1) }.reduce(0, +) / Float(initial.count)
        #expect(drift > 0.005 * scale && drift < 0.5 * scale)
        #expect(a != b)
    }
}
