import Layers
import TensorCore
import Testing
import _TestSupport

@Suite struct OptimizerTests {
    @Test func nesterovMomentumMatchesHandComputation() {
        let p = Parameter(name: "w", shape: [2], decays: true, initialValue: 1)
        let b = Parameter(name: "b", shape: [1], decays: false, initialValue: 1)
        let idle = Parameter(name: "idle", shape: [1], decays: true, initialValue: 5)
        let sgd = SGD(momentum: 0.9, nesterov: true, weightDecay: 0.1)
        // Step 1: grad [0.5, 0] (second entry inactive: zero grad, still decayed).
        p.grad[0] = 0.5; p.touched = true
        b.grad[0] = 0.5; b.touched = true
        sgd.step([p, b, idle], learningRate: 0.1, engine: Engine())
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
        sgd.step([p], learningRate: 0.1, engine: Engine())
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
