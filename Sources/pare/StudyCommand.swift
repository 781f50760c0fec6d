import ArgumentParser
import Foundation
import Networks
import Search
import Spaces
import Workflows

struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Does the search earn its keep? Uniform scaling, random search and evolution at one budget, retrained alike, over seeds.",
        discussion: """
        For every seed: a supernet (DIR/supernet-seedS, shared by every budget of the study), then at the \
        budget four winners: the widest uniform width scaling of the largest network, the best of N random \
        candidates by inherited score, one random pick, and the evolutionary search's best. Each is retrained \
        with the same recipe from its inherited weights and from scratch, judged on the validation images held \
        out of the training file; the test split is evaluated once, after all training. Writes DIR/NAME/study.json \
        after every step (run the same command again to continue an interrupted study) and DIR/NAME/table.md.
        """)

    @Option(name: .customLong("dir"), help: "Study directory.") var directory: String
    @Option(help: "Name of this budget's results: DIR/NAME (default: the budget, e.g. macs-1.2M).") var name: String?
    @Option(help: "Search-space file (YAML or JSON) or built-in name.") var space: String
    @Option(help: "Data source (default fashion-mnist).") var data = "fashion-mnist"
    @Option(help: "Seeds of the whole pipeline, comma-separated (default 0,1,2).", transform: { text in
        let seeds = text.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard !seeds.isEmpty, seeds.allSatisfy({ $0 != nil }), Set(seeds).count == seeds.count else {
            throw ValidationError("'\(quoted(text))' is not a list of distinct seeds like 0,1,2")
        }
        return seeds.map { $0! }
    })
    var seeds: [UInt64] = [0, 1, 2]
    @Option(help: "Supernet epochs (default 6).") var supernetEpochs = 6
    @Option(help: "Validation images held out from the end of the training file (default 10000).") var validation: Int?
    @Option(help: "Use only the first N training images (default: all).") var trainLimit: Int?
    @Option(help: "Largest MACs per image, e.g. 1.2M.", transform: { try countArgument($0) }) var maxFlops: Int?
    @Option(help: "Largest parameter count, e.g. 80K.", transform: { try countArgument($0) }) var maxParams: Int?
    @Option(help: "Largest int8 peak activation memory at batch 1, e.g. 32KB.", transform: { try bytesArgument($0) }) var maxPeakMemory: Int?
    @Option(help: "Largest int8 model (flash), e.g. 64KB.", transform: { try bytesArgument($0) }) var maxFlash: Int?
    @Option(help: "Evolution: population (default 50).") var population = 50
    @Option(help: "Evolution: generations (default 20).") var generations = 20
    @Option(help: "Random candidates scored (default: as many as the evolution scored, the same compute).") var random: Int?
    @Option(help: "Validation images scored per candidate (default: the whole validation split).") var validationImages: Int?
    @Option(help: "Training images for BN recalibration (default 2560).") var calibrationImages = CalibrationSet.defaultImages
    @Option(help: "Retraining epochs, the same for every arm and start (default 10).") var retrainEpochs = 10
    @Option(help: "Retraining peak learning rate (default: pare finetune's).") var retrainLr: Float?
    @Option(help: "Engine threads (default: all cores).") var threads: Int?

    var budget: Budget { Budget(maxMACs: maxFlops, maxParameters: maxParams, maxPeakMemoryBytes: maxPeakMemory, maxFlashBytes: maxFlash) }

    func validate() throws {
        guard maxFlops != nil || maxParams != nil || maxPeakMemory != nil || maxFlash != nil else {
            throw ValidationError("a study needs a budget: --max-flops, --max-params, --max-peak-memory or --max-flash")
        }
        guard supernetEpochs >= 1, retrainEpochs >= 1, population >= 1, generations >= 1 else {
            throw ValidationError("--supernet-epochs, --retrain-epochs, --population and --generations must be at least 1")
        }
        if let random, random < 1 { throw ValidationError("--random must be at least 1, got \(random)") }
        if let validationImages, validationImages < 1 { throw ValidationError("--validation-images must be at least 1") }
        guard calibrationImages >= 1 else { throw ValidationError("--calibration-images must be at least 1") }
        if let retrainLr, !(retrainLr > 0 && retrainLr.isFinite) { throw ValidationError("--retrain-lr must be a positive number") }
        guard threads.map({ $0 >= 1 }) ?? true else { throw ValidationError("--threads must be at least 1") }
        if let name, name.isEmpty || name.contains("/") || name.hasPrefix(".") { throw ValidationError("--name: '\(quoted(name))' must be a plain non-empty name") }
    }

    var request: StudyRequest {
        var s = StudySupernet(space: space, data: data, epochs: supernetEpochs)
        s.validation = validation
        s.trainLimit = trainLimit
        let b = budget
        var r = StudyRequest(directory: directory, name: name ?? Self.defaultName(b), supernet: s)
        r.seeds = seeds
        r.budget = b
        r.evolution.population = population
        r.evolution.generations = generations
        r.evolution.parents = min(r.evolution.parents, population)
        r.randomCandidates = random
        r.validationImages = validationImages
        r.calibrationImages = calibrationImages
        r.retrainEpochs = retrainEpochs
        r.retrainLearningRate = retrainLr
        return r
    }

    /// "macs-1.20M", "peak-32768B", "macs-3.00M-flash-64000B", ...
    static func defaultName(_ b: Budget) -> String {
        var parts: [String] = []
        if let m = b.maxMACs { parts.append("macs-\(readableCount(Double(m)).replacingOccurrences(of: " ", with: ""))") }
        if let p = b.maxParameters { parts.append("params-\(readableCount(Double(p)).replacingOccurrences(of: " ", with: ""))") }
        if let m = b.maxPeakMemoryBytes { parts.append("peak-\(m)B") }
        if let f = b.maxFlashBytes { parts.append("flash-\(f)B") }
        return parts.joined(separator: "-")
    }

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: threads)
            let r = request
            let study = try Study(r, space: try loadSpace(space), backend: StudyPipeline(r, engine: engine, log: logLine), log: logLine)
            let report = try study.run()
            print(report.markdown, terminator: "")
            print("written: \(r.path)/{study.json,table.md}")
        }
    }
}
