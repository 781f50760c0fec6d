import Networks
import Spaces
import TensorCore
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
    let model = Subnet(space: space, architecture: arch, rng: RNG(seed: seed))
    let rng = RNG(seed: seed &+ 1)
    for bn in model.norms {
        for c in 0..<bn.maxChannels {
            bn.gamma.value[c] = 0.5 + Float(rng.uniform())
            bn.beta.value[c] = Float(rng.normal()) * 0.3
            bn.runningMean[c] = Float(rng.normal()) * 0.2
            bn.runningVariance[c] = 0.5 + Float(rng.uniform())
        }
    }
    return model
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
