import ArgumentParser
import Datasets
import Foundation
import Runs
import Search
import Spaces
import Networks
import TensorCore

/// The run's stored configuration (`run.json`).
func loadTrainConfig(_ dir: RunDirectory, hint: String) throws -> TrainConfig {
    guard let data = FileManager.default.contents(atPath: dir.configPath) else {
        throw UserError("\(dir.configPath): not found; \(hint)")
    }
    do { return try JSONDecoder().decode(TrainConfig.self, from: data) } catch {
        throw UserError("\(dir.configPath): unreadable run configuration (\(decodingProblem(error)))")
    }
}

/// The training and validation splits of a run's data, checked against its space.
func loadSplits(_ config: TrainConfig) throws -> (train: Dataset, validation: Dataset, source: DataSource) {
    let source = try DataSource(parsing: config.data)
    var (trainFile, _) = try source.load()
    if config.trainLimit > 0 && config.trainLimit < trainFile.count { trainFile = trainFile.subset(0..<config.trainLimit) }
    let (train, val) = try trainFile.splitValidation(min(config.validation, trainFile.count / 2))
    try check(train, from: source, fits: config.space)
    // The split is still made so that the validation images stay the same ones.
    return (config.includeValidation == true ? trainFile : train, val, source)
}

/// The test file of a run's data, checked against its space.
func loadTestSplit(_ config: TrainConfig) throws -> Dataset {
    let source = try DataSource(parsing: config.data)
    let test = try source.load().test
    try check(test, from: source, fits: config.space)
    return test
}

func check(_ d: Dataset, from source: DataSource, fits sp: SearchSpace) throws {
    guard d.channels == sp.inputChannels && d.height == sp.inputSize && d.width == sp.inputSize else {
        throw UserError("\(source): images are \(d.channels)x\(d.height)x\(d.width), space '\(sp.name)' takes \(sp.inputChannels)x\(sp.inputSize)x\(sp.inputSize)")
    }
    guard d.classes == sp.classes else { throw UserError("\(source) has \(d.classes) classes, space '\(sp.name)' \(sp.classes)") }
}

/// Loads a search space from a file path or the name `reference`.
func loadSpace(_ name: String) throws -> SearchSpace {
    name == "reference" ? SearchSpace.reference : try SpaceFile.load(name)
}

/// A latency table written by `pare latency`, checked to be measured for `space`.
func loadLatencyTable(_ path: String, for space: SearchSpace) throws -> LatencyTable {
    guard let data = FileManager.default.contents(atPath: path) else { throw UserError("\(path): file not found") }
    let table: LatencyTable
    do { table = try JSONDecoder().decode(LatencyTable.self, from: data) } catch {
        throw UserError("\(path): not a latency table written by `pare latency`")
    }
    try table.checkCovers(space, path: path)
    return table
}

/// A finished (or stopped) supernet run, locked, with its stored configuration: what
/// search, correlate and export start from.
func openTrainedRun(_ path: String) throws -> (RunDirectory, TrainConfig) {
    let dir = try RunDirectory(path: path, create: false)
    try dir.lock(shared: true)
    return (dir, try loadTrainConfig(dir, hint: "train a supernet first: pare train --space FILE --run \(path)"))
}

/// A trained supernet opened for reading, with the data it was trained on.
struct TrainedSupernet {
    let network: Supernet
    /// The checkpoint the weights came from.
    let checkpoint: String
    let train: Dataset
    let validation: Dataset
    let normalization: Normalization
    let source: DataSource

    /// The run's supernet at its newest valid checkpoint (weights and BN statistics only),
    /// with the splits and normalization it was trained with.
    init(_ dir: RunDirectory, _ config: TrainConfig, engine: Engine) throws {
        (train, validation, source) = try loadSplits(config)
        normalization = Normalization.fit(train)
        (network, checkpoint) = try Supernet.trained(dir, space: config.space, engine: engine, warn: logLine)
    }
}

/// A count option ("3M", "800K", "2500000") for `@Option(transform:)`: refused at parse time,
/// before anything loads.
func countArgument(_ text: String) throws -> Int {
    guard let v = parseCount(text), v > 0 else { throw ValidationError("'\(quoted(text))' is not a count like 3M or 800K") }
    return v
}

/// A moving-average decay (`--ema`, of pare finetune and pare prune) in (0, 1).
func emaDecayArgument(_ text: String) throws -> Float {
    guard let v = Float(text), v > 0 && v < 1 else { throw ValidationError("--ema must be a decay in (0, 1), e.g. 0.999; got '\(quoted(text))'") }
    return v
}

/// A duration option ("1.2ms", "800us") in milliseconds.
func durationArgument(_ text: String) throws -> Double {
    guard let v = parseMilliseconds(text) else { throw ValidationError("'\(quoted(text))' is not a duration like 1.2ms or 800us") }
    return v
}
