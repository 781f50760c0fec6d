import Export
import Datasets
import Foundation
import Runs
import Search
import Spaces
import Networks
import TensorCore
import Training

/// The run's stored configuration (`run.json`).
public func loadTrainConfig(_ dir: RunDirectory, hint: String) throws -> TrainConfig {
    guard let data = FileManager.default.contents(atPath: dir.configPath) else {
        throw UserError("\(dir.configPath): not found; \(hint)")
    }
    do { return try JSONDecoder().decode(TrainConfig.self, from: data) } catch {
        throw UserError("\(dir.configPath): unreadable run configuration (\(decodingProblem(error)))")
    }
}

/// Every split a run's data source holds (image folders decoded to the space's input).
func openData(_ config: TrainConfig) throws -> (files: DataFiles, source: DataSource) {
    let source = try DataSource(parsing: config.data)
    do {
        return (try source.open(channels: config.space.inputChannels, size: config.space.inputSize, classes: config.space.classes,
                                options: config.imageOptions ?? ImageOptions()), source)
    } catch let e as DataError { throw UserError(e.description) }
}

/// The training and validation splits of a run's data, checked against its space: the
/// source's own validation split (an image folder's val/), else held out of the training file.
public func loadSplits(_ config: TrainConfig) throws -> (train: Dataset, validation: Dataset, source: DataSource) {
    let (files, source) = try openData(config)
    let (train, val) = try splits(files, source, config)
    return (train, val, source)
}

/// The training and validation splits of opened data.
func splits(_ files: DataFiles, _ source: DataSource, _ config: TrainConfig) throws -> (train: Dataset, validation: Dataset) {
    var trainFile = files.train
    if config.trainLimit > 0 && config.trainLimit < trainFile.count { trainFile = trainFile.subset(0..<config.trainLimit) }
    if let val = files.validation {
        try check(trainFile, from: source, fits: config.space)
        return (try config.includeValidation == true ? concatenate(trainFile, val) : trainFile, val)
    }
    let (train, val) = try trainFile.splitValidation(min(config.validation, trainFile.count / 2))
    try check(train, from: source, fits: config.space)
    // The split is still made so that the validation images stay the same ones.
    return (config.includeValidation == true ? trainFile : train, val)
}

/// Training and validation images together (`--include-validation` with a val/ folder).
func concatenate(_ a: Dataset, _ b: Dataset) throws -> Dataset {
    var pixels = a.pixelBytes
    pixels += b.pixelBytes
    var d = Dataset(name: a.name, channels: a.channels, height: a.height, width: a.width, classes: a.classes, pixels: pixels, labels: a.labels + b.labels)
    d.classNames = a.classNames
    return d
}

/// The data settings an exported model was made with (`data` replaces its source).
public func modelDataConfig(_ d: ModelDescription, data: String?) -> TrainConfig {
    var config = TrainConfig(space: d.space, spaceFile: d.provenance.spaceFile, data: data ?? d.provenance.data)
    config.validation = d.provenance.validation
    config.trainLimit = d.provenance.trainLimit
    config.imageOptions = d.provenance.images
    return config
}

/// The training, validation and test splits of an exported model's data (test: nil when the
/// source has none, e.g. a folder of class folders without test/).
public func loadModelData(_ d: ModelDescription, data: String?) throws -> (train: Dataset, validation: Dataset, test: Dataset?, source: DataSource) {
    let config = modelDataConfig(d, data: data)
    let (files, source) = try openData(config)
    let (train, val) = try splits(files, source, config)
    if let test = files.test { try check(test, from: source, fits: config.space) }
    return (train, val, files.test, source)
}

/// The test file of a run's data, checked against its space.
public func loadTestSplit(_ config: TrainConfig) throws -> Dataset {
    let (files, source) = try openData(config)
    guard let test = files.test else {
        throw UserError("\(source): no test split (an image folder's is DIR/test/<class>/…, beside DIR/train/); use --split val, or --data with a test split")
    }
    try check(test, from: source, fits: config.space)
    return test
}

public func check(_ d: Dataset, from source: DataSource, fits sp: SearchSpace) throws {
    guard d.channels == sp.inputChannels && d.height == sp.inputSize && d.width == sp.inputSize else {
        throw UserError("\(source): images are \(d.channels)x\(d.height)x\(d.width), space '\(sp.name)' takes \(sp.inputChannels)x\(sp.inputSize)x\(sp.inputSize)")
    }
    guard d.classes == sp.classes else {
        throw UserError("\(source) has \(d.classes) classes, space '\(sp.name)' \(sp.classes)" + (d.classNames == nil ? "" : " (set `classes: \(d.classes)` in the space file)"))
    }
}

/// Loads a search space from a file path or the name `reference`.
public func loadSpace(_ name: String) throws -> SearchSpace {
    name == "reference" ? SearchSpace.reference : try SpaceFile.load(name)
}

/// A latency table written by `pare latency`, checked to be measured for `space`.
public func loadLatencyTable(_ path: String, for space: SearchSpace) throws -> LatencyTable {
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
public func openTrainedRun(_ path: String) throws -> (RunDirectory, TrainConfig) {
    let dir = try RunDirectory(path: path, create: false)
    try dir.lock(shared: true)
    return (dir, try loadTrainConfig(dir, hint: "train a supernet first: pare train --space FILE --run \(path)"))
}

/// A trained supernet opened for reading, with the data it was trained on.
public struct TrainedSupernet {
    public let network: Supernet
    /// The checkpoint the weights came from.
    public let checkpoint: String
    public let train: Dataset
    public let validation: Dataset
    public let normalization: Normalization
    public let source: DataSource

    /// The run's supernet at its newest valid checkpoint (weights and BN statistics only),
    /// with the splits and normalization it was trained with.
    public init(_ dir: RunDirectory, _ config: TrainConfig, engine: Engine, log: Log) throws {
        (train, validation, source) = try loadSplits(config)
        normalization = config.normalization ?? Normalization.fit(train)
        (network, checkpoint) = try Supernet.trained(dir, space: config.space, engine: engine, warn: log)
    }
}

/// The split a model is evaluated on: the data set's test file, or the validation images
/// held out of the training file.
public enum EvalSplit: String, CaseIterable, Sendable {
    case test, val
}
