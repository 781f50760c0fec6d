import Networks
import TensorCore
import Testing
import Training

/// The moving average of the weights (`pare finetune --ema`): its recurrence, and that it
/// changes what is validated but not what is trained.
@Suite struct WeightAverageTests {
    init() { BLAS.configure() }

    /// Every parameter and running statistic of the network, in the average's order.
    private func values(_ run: TrainingRun) -> [Float] {
        run.network.parameters.flatMap { Array(UnsafeBufferPointer(start: $0.value, count: $0.count)) }
            + run.network.norms.flatMap {
                Array(UnsafeBufferPointer(start: $0.runningMean, count: $0.maxChannels))
                    + Array(UnsafeBufferPointer(start: $0.runningVariance, count: $0.maxChannels))
            }
    }

    @Test func theAverageFollowsItsRecurrence() throws {
        let run = try tinyTraining(fixed: true, average: 0.95)
        let average = try #require(run.average)
        average.reset()
        var expected = values(run).map(Double.init)
        while !run.finished {
            _ = try run.trainStep()
            // Warm-up: d = min(0.95, (1 + t) / (10 + t)); 0.95 is reached at t = 170, past this run.
            let t = Double(run.step), d = min(0.95, (1 + t) / (10 + t))
            #expect(abs(Double(average.decay(afterStep: run.step)) - d) < 1e-7)
            for (i, v) in values(run).enumerated() { expected[i] = d * expected[i] + (1 - d) * Double(v) }
        }
        let live = values(run)
        average.swap()
        let averaged = values(run)
        average.swap()
        #expect(values(run) == live, "two swaps restore the network")
        let worst = zip(averaged, expected).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst < 1e-5, "average differs from the recurrence by \(worst)")
        #expect(averaged != live)
        #expect(average.decay(afterStep: 1000) == 0.95)
    }

    @Test func theAverageIsValidatedButNotTrained() throws {
        let plain = try tinyTraining(fixed: true), averaged = try tinyTraining(fixed: true, average: 0.9)
        averaged.average!.reset()
        while !plain.finished { _ = try plain.trainStep() }
        while !averaged.finished { _ = try averaged.trainStep() }
        // Training is the same with and without the average.
        #expect(stateSnapshot(averaged).prefix(stateSnapshot(plain).count).elementsEqual(stateSnapshot(plain)))
        // The probes evaluate the average: the live weights (swapped in) score as the plain run's.
        let probes = averaged.evaluateProbes()
        averaged.average!.swap()
        let live = averaged.evaluateProbes()
        averaged.average!.swap()
        #expect(live == plain.evaluateProbes())
        #expect(probes != live)
    }
}
