import ArgumentParser
import Training
import Workflows

/// Recipe and bookkeeping options shared by `pare train` and `pare finetune`.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Epochs (default 10; 3 for pare train with distill sampling, whose steps train 4 paths).") var epochs: Int?
    @Option(help: "Random seed (default 0).") var seed: UInt64?
    @Option(name: .customLong("lr"), help: "Base learning rate of the cosine schedule (default: 0.4 for pare train, 0.1 for pare finetune).") var learningRate: Float?
    @Option(help: "Epochs of linear learning-rate warm-up before the cosine schedule (default: a tenth of the epochs, at most 1, for pare train; 0 for pare finetune; fractions allowed).") var warmupEpochs: Double?
    @Option(help: "Batch size (default 128).") var batchSize: Int?
    @Option(help: "Label smoothing (default 0.1).") var labelSmoothing: Float?
    @Option(help: "Weight decay on conv/linear weights (default 4e-5).") var weightDecay: Float?
    @Option(help: "Network slimming: L1 penalty of this weight on every BatchNorm scale (typically 1e-5 to 1e-4; default 0: off), so that `pare prune --method slimming` finds channels to remove.")
    var slimming: Float?
    @Option(help: "Random-crop padding (default 0: off).") var cropPadding: Int?
    @Option(help: "Random horizontal flips: true or false (default false).") var flip: Bool?
    @Option(help: "Random erasing: the probability that an image gets one rectangle of random pixels (default 0: off; 0.5 is the paper's).")
    var erase: Double?
    @Option(help: "Checkpoint every N steps as well as at epoch ends (default 200; 0: epoch ends only).") var checkpointEvery: Int?
    @Option(help: "Checkpoints kept (default 3).") var keep: Int?
    @Flag(help: "Continue the run from its newest valid checkpoint.") var resume = false
    @Flag(help: "On --resume, accept options that differ from the run's stored configuration.") var overrideConfig = false
    @Option(help: "Engine threads (default: all cores).") var threads: Int?

    /// The options as the workflows take them.
    var overrides: RecipeOverrides {
        var o = RecipeOverrides()
        o.epochs = epochs; o.seed = seed; o.learningRate = learningRate; o.warmupEpochs = warmupEpochs
        o.batchSize = batchSize; o.labelSmoothing = labelSmoothing; o.weightDecay = weightDecay; o.slimming = slimming
        o.cropPadding = cropPadding; o.flip = flip; o.erase = erase; o.checkpointEvery = checkpointEvery; o.keep = keep
        o.resume = resume; o.overrideConfig = overrideConfig
        return o
    }
}
