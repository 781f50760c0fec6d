import ArgumentParser
import Data
import Foundation
import Layers
import Runs
import SearchSpace
import Supernet
import TensorCore

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Short end-to-end run: train the reference supernet on Fashion-MNIST, then score probe paths.",
        discussion: """
        Trains with a random path per step (SPOS) on the first 50 000 training images, holds out the last \
        10 000 as validation, then recalibrates BN for the smallest, largest and a few random paths and \
        reports their validation accuracy. Metrics go to RUN/train.jsonl, a summary to RUN/summary.json.
        """)

    @Option(help: "fashion-mnist[:DIR], mnist:DIR, cifar10:DIR (not for this 28x28 network) or synthetic.")
    var data = "fashion-mnist"
    @Option(name: .customLong("run"), help: "Run directory for metrics and summary.") var runDirectory = "runs/demo"
    @Option(help: "Epochs of supernet training.") var epochs = 1
    @Option(help: "Use only the first N training images (0: all).") var trainLimit = 0
    @Option(help: "Validation images held out from the end of the training file.") var validation = 10_000
    @Option(help: "Random paths to score after training.") var probes = 3
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Engine threads (default: all cores).") var threads: Int?
    @Option(help: "Random-crop padding (0: off).") var cropPadding = 0
    @Flag(help: "Random horizontal flips (off by default: Fashion-MNIST items are not mirror-symmetric in meaning).")
    var flip = false

    func run() throws {
        try reportingErrors {
            startEngine(threads: threads)
            guard epochs >= 1 else { throw UserError("--epochs must be at least 1, got \(epochs)") }
            let source = try DataSource(parsing: data)
            let t0 = Date()
            var (trainFile, _) = try source.load()
            if trainLimit > 0 && trainLimit < trainFile.count { trainFile = trainFile.subset(0..<trainLimit) }
            let holdout = min(validation, trainFile.count / 5)
            let (train, val) = try trainFile.splitValidation(holdout)
            let space = SearchSpace.reference
            guard train.channels == space.inputChannels && train.height == space.inputSize && train.width == space.inputSize else {
                throw UserError("\(source): images are \(train.channels)x\(train.height)x\(train.width), the reference network takes 1x28x28")
            }
            logLine("data \(source): \(train.count) train, \(val.count) validation (loaded in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s); OpenBLAS core \(BLAS.coreName)")
            let norm = Normalization.fit(train)
            let rng = RNG(seed: seed)
            let net = Supernet(space: space, rng: rng)
            let recipe = Recipe()
            let loader = BatchLoader(dataset: train, batchSize: recipe.batchSize, normalization: norm,
                                     augmentation: Augmentation(cropPadding: cropPadding, horizontalFlip: flip),
                                     shuffle: true, dropLast: true)
            let totalSteps = loader.batchesPerEpoch * epochs
            guard totalSteps > 0 else { throw UserError("\(train.count) training images make no batch of \(recipe.batchSize)") }
            let trainer = SupernetTrainer(network: net, recipe: recipe, totalSteps: totalSteps)
            let metrics = try MetricsLog(directory: runDirectory, file: "train.jsonl")
            let progress = Progress(total: totalSteps, log: logLine)
            let trainStart = Date()
            var recentLoss: [Double] = []
            for epoch in 0..<epochs {
                loader.startEpoch(rng: rng)
                var epochCorrect = 0, epochSeen = 0
                while let batch = loader.next(rng: rng) {
                    let path = space.randomArchitecture(rng)
                    let r = trainer.train(images: batch.images, labels: batch.labels, arch: path)
                    guard r.loss.isFinite else {
                        throw UserError("training diverged: loss is \(r.loss) at step \(trainer.step) (lr \(r.learningRate)); lower the learning rate")
                    }
                    recentLoss.append(r.loss)
                    if recentLoss.count > 50 { recentLoss.removeFirst() }
                    epochCorrect += r.correct
                    epochSeen += batch.labels.count
                    let avg = recentLoss.reduce(0, +) / Double(recentLoss.count)
                    progress.update(step: trainer.step, epoch: epoch + 1, epochs: epochs, loss: avg,
                                    imagesPerSecond: Double(trainer.step * recipe.batchSize) / Date().timeIntervalSince(trainStart))
                    try metrics.append(["kind": "step", "step": trainer.step, "epoch": epoch + 1, "loss": r.loss,
                                        "lr": Double(r.learningRate), "path": path.description])
                }
                try metrics.append(["kind": "epoch", "epoch": epoch + 1, "train_accuracy": Double(epochCorrect) / Double(max(epochSeen, 1)),
                                    "seconds": Date().timeIntervalSince(trainStart)])
            }
            progress.finish()
            let trainSeconds = Date().timeIntervalSince(trainStart)
            // Score probe paths on validation after BN recalibration (20 fixed batches of 128).
            let evaluator = ArchitectureEvaluator(network: net)
            let evalLoader = BatchLoader(dataset: val, batchSize: 500, normalization: norm, shuffle: false, dropLast: false)
            let calibLoader = BatchLoader(dataset: train, batchSize: 128, normalization: norm, shuffle: false, dropLast: false)
            let calibIndices = Array(RNG(seed: seed &+ 99).permutation(train.count).prefix(20 * 128))
            var probesList: [(String, Architecture)] = [("smallest", space.smallest), ("largest", space.largest)]
            for i in 0..<probes { probesList.append(("random\(i)", space.randomArchitecture(rng))) }
            var rows: [[String: Any]] = []
            for (name, path) in probesList {
                evaluator.recalibrate(arch: path, loader: calibLoader, indices: calibIndices)
                let r = evaluator.evaluate(arch: path, loader: evalLoader)
                let cost = space.cost(path)
                print(String(format: "%-9@ %6.3f M MACs %7d params  val acc %.4f  loss %.4f  | %@",
                             name, Double(cost.macs) / 1e6, cost.parameters, r.accuracy, r.loss, path.description))
                rows.append(["name": name, "path": path.description, "macs": cost.macs, "params": cost.parameters,
                             "val_accuracy": r.accuracy, "val_loss": r.loss])
                try metrics.append(["kind": "probe", "name": name, "path": path.description, "val_accuracy": r.accuracy])
            }
            let summary: [String: Any] = [
                "data": source.description, "train_images": train.count, "validation_images": val.count,
                "epochs": epochs, "steps": totalSteps, "seed": seed, "train_seconds": trainSeconds,
                "train_images_per_second": Double(totalSteps * recipe.batchSize) / trainSeconds,
                "blas_core": BLAS.coreName, "threads": Parallel.threads, "probes": rows,
            ]
            try AtomicFile.writeJSON(summary, to: (runDirectory as NSString).appendingPathComponent("summary.json"))
            print(String(format: "trained %d steps in %.1f s (%.0f img/s); metrics in %@/train.jsonl, summary in %@/summary.json",
                         totalSteps, trainSeconds, Double(totalSteps * recipe.batchSize) / trainSeconds, runDirectory, runDirectory))
        }
    }
}
