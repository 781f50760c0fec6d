import Datasets
import Export
import Foundation
import Layers
import Networks
import Quantization
import Runs
import Spaces
import TensorCore
import Training

/// `pare eval`: an exported model on the test split or the held-out validation split.
public struct EvaluateRequest: Sendable {
    public var model: String
    public var split = EvalSplit.test
    /// nil: finetuned if present, else exported (not with `int8`: that model holds its own).
    public var weights: WeightsChoice?
    /// Data source (nil: the one in model.json).
    public var data: String?
    /// Batch of the evaluation and of the second latency measurement.
    public var batch = 100
    /// Timed repetitions per latency measurement.
    public var repeats = 50
    /// A CSV with one line per image: index,label,predicted,logit_0,...
    public var predictions: String?
    public init(model: String) { self.model = model }
}

/// Accuracy of every class and of the whole split, and the latencies measured.
public struct EvaluateResult: Sendable {
    public var architecture: Architecture
    /// Which weights: "model.safetensors", "model.finetuned.safetensors", a file's name.
    public var weights: String
    public var data: String
    public var images: Int
    public var accuracy: Double
    public var loss: Double
    public var perClass: [Double]
    public var perClassCount: [Int]
    public var classNames: [String]
    public var macs: Int
    public var parameters: Int
    /// Pare's engine, at batch 1 and at `batch`.
    public var latencyMs: (single: Double, batched: Double)
    /// The folded graph on oneDNN (NHWC float32), at batch 1 and at `onednnBatch`.
    public var onednnMs: (single: Double, batched: Double)
    public var onednnBatch: Int
    public var threads: Int
    /// DIR/eval-WEIGHTS-SPLIT.json.
    public var file: String
}

/// Evaluates the float model with the chosen weights; writes DIR/eval-WEIGHTS-SPLIT.json
/// and, when asked, the predictions CSV.
public func evaluateModel(_ request: EvaluateRequest, engine: Engine, log: Log) throws -> EvaluateResult {
    let dir = ModelDirectory(path: request.model)
    let weightsName = try resolveWeights(request.weights, in: dir)
    let (d, model) = try dir.load(weights: weightsName, engine: engine)
    let arch = try Architecture(parsing: d.architecture, space: d.space)
    let config = modelDataConfig(d, data: request.data)
    let dataset = try evaluationSet(config, split: request.split, dataGiven: request.data != nil, log: log)
    try checkClassNames(dataset, d, data: config.data)
    if request.split == .val {
        if try dir.weightsTrainedOnValidation(weightsName) {
            log("warning: these weights were trained on the validation split too (pare finetune --include-validation): its accuracy is not a held-out measure; use --split test")
        }
    }
    let batch = request.batch, repeats = request.repeats
    let loader = BatchLoader(dataset: dataset, batchSize: batch, normalization: d.normalization, shuffle: false, dropLast: false)
    let names = d.provenance.classNames ?? className(for: config.data, classes: d.classes)
    var rows: [String]? = request.predictions == nil ? nil : [predictionsHeader(classes: d.classes, names: d.provenance.classNames)]
    let r = classAccuracies(model, arch: arch, loader: loader, classes: d.classes, rows: &rows)
    if let path = request.predictions, let rows {
        try AtomicFile.write(Data((rows.joined(separator: "\n") + "\n").utf8), to: path)
    }
    let single = LatencyProfiler(network: model, batch: 1, repeats: repeats).measure(arch)
    let batched = LatencyProfiler(network: model, batch: batch, repeats: max(repeats / 5, 3)).measure(arch)
    // The same folded graph on oneDNN (NHWC float32), as a deployment would run it.
    let graph = try model.inferenceGraph(arch, mean: d.normalization.mean, std: d.normalization.std).foldingInputNormalization()
    let dnnl = try DNNLFloatExecutor(graph, threads: engine.threads)
    let images = ImageSource(dataset: dataset, indices: Array(0..<min(batch, dataset.count)))
    let one = images.floats(0..<1), many = images.floats(0..<images.count)
    let dnnlSingle = LatencyProfiler.medianMs(repeats: repeats) { _ = try? dnnl.run(one, batch: 1) }
    let dnnlBatched = LatencyProfiler.medianMs(repeats: max(repeats / 5, 3)) { _ = try? dnnl.run(many, batch: images.count) }

    let label = weightsName.map { ($0 as NSString).lastPathComponent } ?? d.weights
    let out = dir.file("eval-\(weightsLabel(of: weightsName))-\(request.split.rawValue).json")
    try AtomicFile.writeJSON([
        "architecture": d.architecture, "weights": label, "split": request.split.rawValue, "data": config.data, "images": r.count,
        "accuracy": r.accuracy, "loss": r.loss, "per_class_accuracy": r.perClass, "classes": names,
        "macs": d.macs, "parameters": d.parameters, "latency_ms_batch1": single, "latency_ms_batch": batched,
        "latency_batch": batch, "threads": engine.threads, "blas_core": BLAS.coreName,
        "latency_ms_batch1_onednn": dnnlSingle, "latency_ms_batch_onednn": dnnlBatched,
    ], to: out)
    return EvaluateResult(architecture: arch, weights: label, data: config.data, images: r.count, accuracy: r.accuracy, loss: r.loss,
                          perClass: r.perClass, perClassCount: r.perClassCount, classNames: names, macs: d.macs, parameters: d.parameters,
                          latencyMs: (single, batched), onednnMs: (dnnlSingle, dnnlBatched), onednnBatch: images.count,
                          threads: engine.threads, file: out)
}

/// The int8 model's accuracy and latency on oneDNN.
public struct Int8EvaluateResult: Sendable {
    public var architecture: String
    /// model.int8.safetensors.
    public var weights: String
    public var observer: RangeObserver
    public var data: String
    public var images: Int
    public var accuracy: Double
    public var latencyMs: (single: Double, batched: Double)
    public var batch: Int
    /// oneDNN's implementation of the convolutions, "NAME xCOUNT".
    public var kernels: [String]
    /// DIR/eval-int8-SPLIT.json.
    public var file: String
}

/// `pare eval DIR --int8`: the int8 model (model.int8.safetensors) on oneDNN.
public func evaluateInt8(_ request: EvaluateRequest, engine: Engine, log: Log) throws -> Int8EvaluateResult {
    guard request.weights == nil else { throw UserError("--weights does not apply to --int8: the int8 model holds its own weights") }
    let dir = ModelDirectory(path: request.model)
    let (d, model) = try dir.load(weights: nil, engine: engine)
    let path = dir.file(Int8ModelFile.file)
    guard FileManager.default.fileExists(atPath: path) else { throw UserError("\(path): not found; run pare quantize \(dir.path) first") }
    let graph = try model.inferenceGraph(model.architecture, mean: d.normalization.mean, std: d.normalization.std).foldingInputNormalization()
    let q = try Int8ModelFile.read(path, graph: graph)
    let config = modelDataConfig(d, data: request.data)
    let dataset = try evaluationSet(config, split: request.split, dataGiven: request.data != nil, log: log)
    try checkClassNames(dataset, d, data: config.data)
    let source = try DataSource(parsing: config.data)
    let batch = request.batch, repeats = request.repeats
    let images = ImageSource(dataset: dataset)
    let dnnl = try DNNLExecutor(q, threads: engine.threads)
    var logits = [Float](), start = 0
    while start < images.count {
        let range = start..<min(images.count, start + batch)
        logits += try dnnl.run(images.pixels(range), batch: range.count)
        start = range.upperBound
    }
    let labels = images.labels(0..<images.count)
    var hits = 0
    var rows = [predictionsHeader(classes: d.classes, names: d.provenance.classNames)]
    for (i, label) in labels.enumerated() {
        let row = Array(logits[(i * d.classes)..<((i + 1) * d.classes)])
        let predicted = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }!
        if predicted == label { hits += 1 }
        if request.predictions != nil { rows.append("\(i),\(label),\(predicted)," + row.map { String($0) }.joined(separator: ",")) }
    }
    if let predictions = request.predictions { try AtomicFile.write(Data((rows.joined(separator: "\n") + "\n").utf8), to: predictions) }
    let accuracy = Double(hits) / Double(max(labels.count, 1))
    let manyCount = min(batch, images.count)
    let one = images.pixels(0..<1), many = images.pixels(0..<manyCount)
    let single = LatencyProfiler.medianMs(repeats: repeats) { _ = try? dnnl.run(one, batch: 1) }
    let batched = LatencyProfiler.medianMs(repeats: max(repeats / 5, 3)) { _ = try? dnnl.run(many, batch: manyCount) }
    let kernels = try dnnl.implementations(batch: manyCount)
    let kinds = Dictionary(grouping: kernels, by: \.implementation).map { "\($0.key) x\($0.value.count)" }.sorted()
    let out = dir.file("eval-int8-\(request.split.rawValue).json")
    try AtomicFile.writeJSON([
        "architecture": d.architecture, "weights": Int8ModelFile.file, "split": request.split.rawValue, "data": source.description,
        "images": labels.count, "accuracy": accuracy, "latency_ms_batch1": single, "latency_ms_batch": batched,
        "latency_batch": manyCount, "kernels": kinds,
    ], to: out)
    return Int8EvaluateResult(architecture: d.architecture, weights: Int8ModelFile.file, observer: q.settings.observer, data: source.description, images: labels.count,
                              accuracy: accuracy, latencyMs: (single, batched), batch: manyCount, kernels: kinds, file: out)
}

/// Images whose classes have names must name the model's classes, in its order: the same
/// count under other names would be scored against the wrong labels.
func checkClassNames(_ d: Dataset, _ model: ModelDescription, data: String) throws {
    guard let names = d.classNames, let trained = model.provenance.classNames, names != trained else { return }
    throw UserError("\(data): classes \(names.prefix(6).joined(separator: ", "))\(names.count > 6 ? ", …" : "") differ from the model's \(trained.prefix(6).joined(separator: ", "))\(trained.count > 6 ? ", …" : "") (same names in the same order expected)")
}

/// The predictions CSV's header: a logit column per class, "logit_K", or named after the
/// class when the data names its classes (an image folder: "logit_Coat").
func predictionsHeader(classes: Int, names: [String]?) -> String {
    let safe = names.map { $0.map { String($0.map { ",\"\n\r ".contains($0) ? "_" : $0 }) } }
    let columns = safe.flatMap { Set($0).count == classes && $0.count == classes ? $0 : nil } ?? (0..<classes).map(String.init)
    return "index,label,predicted," + columns.map { "logit_" + $0 }.joined(separator: ",")
}

/// The images `pare eval` measures. A source without a test split that the user named with
/// --data (a flat image folder, arrays without x_test) is measured whole.
func evaluationSet(_ config: TrainConfig, split: EvalSplit, dataGiven: Bool, log: Log) throws -> Dataset {
    if split == .val { return try loadSplits(config).validation }
    let (files, source) = try openData(config)
    if let test = files.test {
        try check(test, from: source, fits: config.space)
        return test
    }
    // Only a flat folder of class folders is an evaluation set as a whole (a train/ split or
    // training arrays are what the model learned from).
    guard dataGiven, case let .folder(dir) = source, files.validation == nil,
          !FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("train")) else { return try loadTestSplit(config) }
    try check(files.train, from: source, fits: config.space)
    log("\(source) has no test split: evaluating all its \(files.train.count) images")
    return files.train
}

/// With `rows`, appends a CSV line per image (index, label, predicted class, logits).
func classAccuracies(_ model: Subnet, arch: Architecture, loader: BatchLoader, classes: Int, rows: inout [String]?)
    -> (accuracy: Double, loss: Double, count: Int, perClass: [Double], perClassCount: [Int]) {
    let ce = SoftmaxCrossEntropy(labelSmoothing: 0)
    let n = loader.dataset.count
    var hits = [Int](repeating: 0, count: classes), totals = hits
    var lossSum = 0.0
    var start = 0
    while start < n {
        let idx = Array(start..<min(n, start + loader.batchSize))
        let logits = model.forward(loader.fill(indices: idx, rng: nil), arch: arch, mode: .inference)
        lossSum += loader.labels.withUnsafeBufferPointer { ce.evaluate(logits: logits, labels: $0, gradient: false).loss } * Double(idx.count)
        for (j, label) in loader.labels.enumerated() {
            var best = 0
            for c in 1..<classes where logits.pointer[c * idx.count + j] > logits.pointer[best * idx.count + j] { best = c }
            totals[Int(label)] += 1
            if best == Int(label) { hits[Int(label)] += 1 }
            if rows != nil {
                let values = (0..<classes).map { String(logits.pointer[$0 * idx.count + j]) }
                rows!.append("\(start + j),\(label),\(best)," + values.joined(separator: ","))
            }
        }
        start += idx.count
    }
    return (Double(hits.reduce(0, +)) / Double(max(n, 1)), lossSum / Double(max(n, 1)), n,
            zip(hits, totals).map { $1 > 0 ? Double($0) / Double($1) : 0 }, totals)
}

/// Class names of the built-in data sets (others: "class N").
func className(for data: String, classes: Int) -> [String] {
    let fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    let cifar = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    if data.hasPrefix("fashion-mnist") && classes == 10 { return fashion }
    if data.hasPrefix("cifar10") && classes == 10 { return cifar }
    return (0..<classes).map { "class \($0)" }
}
