import Datasets
import Foundation
import Layers
import Networks
import Runs
import Spaces
import TensorCore
import Testing
import Training
import _TestSupport

/// A training run of the tiny space and data (a fraction of a second per epoch).
/// `fixed`: a subnet of one architecture (what `pare finetune` trains).
func tinyTraining(sampling: SamplingStrategy = .uniform, seed: UInt64 = 5, epochs: Int = 2, fixed: Bool = false,
                  sharing: KernelSharing = .separate, warmupEpochs: Double = 0,
                  progressive: ProgressiveShrinking? = nil, pruningNet: Bool = false, slimming: Float = 0,
                  teacher: Bool = false, average: Float = 0) throws -> TrainingRun {
    var space = try tinySpace()
    space.kernelSharing = sharing
    space.pruningNet = pruningNet
    let (train, val) = try tinyData()
    var config = TrainConfig(space: space, spaceFile: "tiny.yaml", data: "synthetic")
    config.epochs = epochs
    config.seed = seed
    config.sampling = sampling
    config.recipe.batchSize = 32
    config.recipe.warmupEpochs = warmupEpochs
    config.recipe.slimming = slimming
    config.recipe.averageDecay = average
    config.progressive = progressive
    config.augmentation = Augmentation(cropPadding: 1, horizontalFlip: true, erasing: 0.5)   // resume tests cover every draw
    config.probes = 1
    config.calibrationBatches = 1
    if fixed { config.fixedArchitecture = space.randomArchitecture(RNG(seed: 1)) }
    if teacher { config.teacher = TeacherDistillation(model: "tiny-teacher", weightsFile: "", weightsCRC32: 0, alpha: 0.8, temperature: 3) }
    let run = try TrainingRun(config: config, train: train, validation: val, normalization: Normalization.fit(train))
    if teacher {
        // The largest architecture with weights of its own seed (BN at its initial statistics).
        let network = Subnet(space: space, architecture: space.largest, rng: RNG(seed: 9), engine: run.network.engine)
        run.attach(teacher: Teacher(network: network, architecture: space.largest, alpha: 0.8, temperature: 3,
                                    labelSmoothing: config.recipe.labelSmoothing))
    }
    return run
}

/// Generated weights (PruningNet) are left out: they hold whatever architecture ran last
/// (a probe, say) and are rewritten by the next forward. A weight average comes last.
func stateSnapshot(_ t: TrainingRun) -> [[Float]] {
    let live = liveState(t)
    guard let average = t.average else { return live }
    average.swap()
    defer { average.swap() }
    return live + liveState(t)   // (the velocities again with the average: harmless)
}

private func liveState(_ t: TrainingRun) -> [[Float]] {
    t.network.parameters.filter { !$0.generated }.flatMap { p in
        [Array(UnsafeBufferPointer(start: p.value, count: p.count)), Array(UnsafeBufferPointer(start: p.velocity, count: p.count))]
    } + t.network.norms.flatMap { bn in
        [Array(UnsafeBufferPointer(start: bn.runningMean, count: bn.maxChannels)), Array(UnsafeBufferPointer(start: bn.runningVariance, count: bn.maxChannels))]
    }
}

/// Names of `stateSnapshot`'s arrays, in its order.
func stateNames(_ t: TrainingRun) -> [String] {
    let names = t.network.parameters.filter { !$0.generated }.flatMap { [$0.name, $0.name + " (velocity)"] }
        + t.network.norms.flatMap { [$0.layerName + ".running_mean", $0.layerName + ".running_var"] }
    return t.average == nil ? names : names + names.map { "average of " + $0 }
}
