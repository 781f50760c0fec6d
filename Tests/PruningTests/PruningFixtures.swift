import Datasets
import Networks
import Spaces
import TensorCore
import Training
import _TestSupport

/// Architectures with every operator kind and coupling: a stride-1 and a stride-2 ResNet
/// projection, plain convolution, MobileNetV1; the stem joined to a ResNet stage by
/// identity shortcuts; ShuffleNet split and projection blocks, Xception's two middle sets,
/// MobileNetV2 with its residual.
let classicArchitectures = ["6/12:basic@1.0,conv3@1.0,basic@0.5,dwsep5@1.0", "4/8:basic@1.0,basic@1.0,dwsep3@1.0,basic@1.0"]
let mobileArchitectures = ["8/16:shuffle3@1.0,xception@1.5,mbconv5_e6@1.0,mbconv3_e3@0.5"]

func fixture(_ text: String) throws -> (SearchSpace, Architecture) {
    let space = classicArchitectures.contains(text) ? try tinyClassicSpace() : try tinySpace(lastStageBlocks: 2)
    return (space, try Architecture(parsing: text, space: space))
}

/// A standalone network with random weights and BN parameters and statistics away from
/// their init, so that any misplaced channel changes the output.
func randomModel(_ space: SearchSpace, _ arch: Architecture, seed: UInt64) -> Subnet {
    randomizeNorms(Subnet(space: space, architecture: arch, rng: RNG(seed: seed)), seed: seed &+ 1)
}

/// A supernet the same way.
func randomSupernet(_ space: SearchSpace, seed: UInt64) -> Supernet {
    randomizeNorms(Supernet(space: space, rng: RNG(seed: seed)), seed: seed &+ 1)
}

func randomizeNorms<N: Network>(_ network: N, seed: UInt64) -> N {
    let rng = RNG(seed: seed)
    for bn in network.norms {
        for c in 0..<bn.maxChannels {
            bn.gamma.value[c] = 0.5 + Float(rng.uniform())
            bn.beta.value[c] = Float(rng.normal()) * 0.3
            bn.runningMean[c] = Float(rng.normal()) * 0.2
            bn.runningVariance[c] = 0.5 + Float(rng.uniform())
        }
    }
    return network
}

/// Trains `config` to the end once straight through and once stopped after `stop` steps,
/// checkpointed and restored into a fresh run; returns whether every parameter and its
/// momentum ended bit for bit the same. `prepare` installs the run's epoch-start hook.
func resumesBitExactly(_ config: TrainConfig, train: Dataset, validation: Dataset, stop: Int,
                       prepare: (TrainingRun) -> Void) throws -> Bool {
    func run() throws -> TrainingRun {
        let t = try TrainingRun(config: config, train: train, validation: validation, normalization: Normalization.fit(train))
        prepare(t)
        return t
    }
    func state(_ t: TrainingRun) -> [[Float]] {
        t.network.parameters.flatMap { [Array(UnsafeBufferPointer(start: $0.value, count: $0.count)), Array(UnsafeBufferPointer(start: $0.velocity, count: $0.count))] }
    }
    let whole = try run()
    while !whole.finished { _ = try whole.trainStep() }
    let first = try run()
    for _ in 0..<stop { _ = try first.trainStep() }
    let bytes = try first.checkpoint()
    let second = try run()
    try second.restore(from: bytes, path: "mem")
    while !second.finished { _ = try second.trainStep() }
    return state(second) == state(whole)
}

func logits(_ model: Subnet, _ x: OwnedMap) -> [Float] { model.forward(x.map, mode: .inference).toArray() }

func input(_ space: SearchSpace, batch: Int = 5, seed: UInt64 = 3) -> OwnedMap {
    OwnedMap.random(channels: space.inputChannels, height: space.inputSize, width: space.inputSize, batch: batch, rng: RNG(seed: seed))
}

/// Random scores for every prunable group (any criterion's output has this shape).
func randomScores(_ groups: [ChannelGroup], seed: UInt64) -> [[Double]] {
    let rng = RNG(seed: seed)
    return groups.map { g in g.prunable ? (0..<g.channels).map { _ in rng.uniform() } : [] }
}
