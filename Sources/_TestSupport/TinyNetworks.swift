import Datasets
import Spaces

/// A small space with every operator form (split and projection ShuffleNet blocks,
/// Xception, MobileNetV2 with and without its residual) on 12x12 single-channel images of
/// 4 classes, so whole trainings take a fraction of a second. `lastStageBlocks` 2 gives a
/// residual MobileNetV2 block.
public func tinySpace(lastStageBlocks: Int = 1) throws -> SearchSpace {
    try SpaceFile.parse("""
        name: tiny
        input: {channels: 1, size: 12}
        classes: 4
        stem: {channels: 4}
        stages:
          - {blocks: 2, stride: 2, widths: [6, 8], operators: [shuffle3, shuffle5, xception], middle_ratios: [0.5, 1.0, 1.5]}
          - {blocks: \(lastStageBlocks), stride: 2, widths: [12, 16], operators: [mbconv3_e3, mbconv5_e6], middle_ratios: [0.5, 1.0]}
        head: {channels: 16}
        """, file: "tiny.yaml")
}

/// Synthetic 12x12 images of 4 classes: 160 training, 40 validation.
public func tinyData() throws -> (train: Dataset, validation: Dataset) {
    var spec = SyntheticSpec()
    spec.height = 12; spec.width = 12; spec.classes = 4; spec.trainCount = 200; spec.testCount = 10
    let (all, _) = try DataSource.synthetic(spec).load()
    return try all.splitValidation(40)
}

/// Classic operators on the same images: ResNet basic blocks with identity and projection
/// shortcuts (a stride-1 projection when stage 0 widens to 6), plain 3x3 convolutions,
/// MobileNetV1 blocks with an elastic 3/5 depthwise kernel; no head convolution.
public func tinyClassicSpace() throws -> SearchSpace {
    try SpaceFile.parse("""
        name: tiny-classic
        input: {channels: 1, size: 12}
        classes: 4
        stem: {channels: 4}
        stages:
          - {blocks: 2, stride: 1, widths: [4, 6], operators: [basic, conv3]}
          - {blocks: 2, stride: 2, widths: [8, 12], operators: [basic, dwsep3, dwsep5], middle_ratios: [0.5, 1.0]}
        head: {channels: 0}
        """, file: "tiny-classic.yaml")
}
