import Layers
import Networks
import Testing
import Training
import _TestSupport

@Suite("Network slimming") struct SlimmingTests {
    @Test("the penalty adds lambda * sign(gamma) to the gradient of every touched BN scale, nothing else")
    func gradientTerm() {
        let touched = Parameter(name: "bn.weight", shape: [4], decays: false)
        let idle = Parameter(name: "other.weight", shape: [2], decays: false)
        for (i, v) in [Float(0.5), -0.2, 0, 1].enumerated() { touched.value[i] = v; touched.grad[i] = 0.1 }
        idle.value[0] = 1; idle.value[1] = -1
        touched.touched = true
        Trainer.addSlimmingPenalty([touched, idle], lambda: 0.01)
        #expect((0..<4).map { touched.grad[$0] } == [0.11, 0.09, 0.1, 0.11])
        #expect(idle.grad[0] == 0 && idle.grad[1] == 0)
    }

    @Test("training with the penalty drives BN scales toward zero")
    func shrinksScales() throws {
        func scales(_ lambda: Float) throws -> Float {
            let t = try tinyTraining(epochs: 3, fixed: true, slimming: lambda)
            while !t.finished { _ = try t.trainStep() }
            return t.network.norms.reduce(0) { s, bn in s + (0..<bn.maxChannels).reduce(0) { $0 + abs(bn.gamma.value[$1]) } }
        }
        let plain = try scales(0), slim = try scales(0.05)
        #expect(slim < 0.9 * plain, "sum |gamma| \(slim) with the penalty, \(plain) without")
    }
}
