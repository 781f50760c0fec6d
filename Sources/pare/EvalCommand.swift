import ArgumentParser
import Training
import Workflows
import Datasets
import Export
import Foundation
import Layers
import Runs
import Spaces
import Networks
import Quantization
import TensorCore

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate an exported model: accuracy, loss, per-class accuracy, latency, MACs and parameters.",
        discussion: """
        DIR is a directory written by `pare export`. --weights picks the exported (inherited) weights, the \
        finetuned ones, the ones trained from scratch, or a safetensors file. Latency is the median of timed \
        inference passes after warm-up, at batch 1 and at --batch. Writes DIR/eval-WEIGHTS-SPLIT.json.
        """)

    @Argument(help: "Model directory written by pare export.") var modelDirectory: String
    @Option(help: "test (the data set's test file) or val (the held-out validation split); default test.") var split = EvalSplit.test
    @Option(help: "exported, finetuned, scratch or a .safetensors file (default: finetuned if present, else exported).") var weights: WeightsChoice?
    @Option(help: "Data source (default: the one in model.json).") var data: String?
    @Option(help: "Batch size of the evaluation and of the second latency measurement (default 100).") var batch = 100
    @Option(help: "Timed repetitions per latency measurement (default 50).") var repeats = 50
    @Option(help: "Also write a CSV with one line per image: index,label,predicted,logit_0,... (compare with tools/pare_model.py --check).")
    var predictions: String?
    @Option(help: "Engine threads (default: all cores).") var threads: Int?
    @Flag(help: "Evaluate the int8 model (model.int8.safetensors, written by pare quantize) on the integer path.") var int8 = false

    func validate() throws {
        guard (1...10_000).contains(batch), (1...100_000).contains(repeats) else {
            throw ValidationError("--batch must be in 1...10000 and --repeats in 1...100000")
        }
    }

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: threads)
            let dir = ModelDirectory(path: modelDirectory)
            if int8 {
                guard weights == nil else { throw UserError("--weights does not apply to --int8: the int8 model holds its own weights") }
                return try evaluateInt8(dir, engine: engine)
            }
            let weightsName = try resolveWeights(weights, in: dir)
            let (d, model) = try dir.load(weights: weightsName, engine: engine)
            let arch = try Architecture(parsing: d.architecture, space: d.space)
            var config = TrainConfig(space: d.space, spaceFile: d.provenance.spaceFile, data: data ?? d.provenance.data)
            config.validation = d.provenance.validation
            config.trainLimit = d.provenance.trainLimit
            let dataset: Dataset
            switch split {
            case .test:
                dataset = try loadTestSplit(config)
            case .val:
                dataset = try loadSplits(config).validation
                if try dir.weightsTrainedOnValidation(weightsName) {
                    logLine("warning: these weights were trained on the validation split too (pare finetune --include-validation): its accuracy is not a held-out measure; use --split test")
                }
            }
            let loader = BatchLoader(dataset: dataset, batchSize: batch, normalization: d.normalization, shuffle: false, dropLast: false)
            var rows: [String]? = predictions == nil ? nil : ["index,label,predicted," + (0..<d.classes).map { "logit_\($0)" }.joined(separator: ",")]
            let r = evaluate(model, arch: arch, loader: loader, classes: d.classes, rows: &rows)
            if let predictions, let rows {
                try AtomicFile.write(Data((rows.joined(separator: "\n") + "\n").utf8), to: predictions)
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
            print("\(arch)  [\(label)]")
            print(String(format: "%@ split of %@: %d images, accuracy %.4f, loss %.4f", split.rawValue, config.data, r.count, r.accuracy, r.loss))
            print(String(format: "%.3f M MACs, %d parameters; latency %.3f ms at batch 1, %.3f ms at batch %d (%.1f us/image), %d threads",
                         Double(d.macs) / 1e6, d.parameters, single, batched, batch, batched * 1000 / Double(batch), engine.threads))
            print(String(format: "latency on oneDNN (the folded graph, NHWC float32): %.3f ms at batch 1, %.3f ms at batch %d", dnnlSingle, dnnlBatched, images.count))
            let names = className(for: config.data, classes: d.classes)
            print("class                 accuracy  images")
            for c in 0..<d.classes {
                let name = names[c].padding(toLength: max(20, names[c].count), withPad: " ", startingAt: 0)
                print(name + String(format: "  %8.4f  %6d", r.perClass[c], r.perClassCount[c]))
            }
            let out = dir.file("eval-\(weightsLabel(of: weightsName))-\(split.rawValue).json")
            try AtomicFile.writeJSON([
                "architecture": d.architecture, "weights": label, "split": split.rawValue, "data": config.data, "images": r.count,
                "accuracy": r.accuracy, "loss": r.loss, "per_class_accuracy": r.perClass, "classes": names,
                "macs": d.macs, "parameters": d.parameters, "latency_ms_batch1": single, "latency_ms_batch": batched,
                "latency_batch": batch, "threads": engine.threads, "blas_core": BLAS.coreName,
                "latency_ms_batch1_onednn": dnnlSingle, "latency_ms_batch_onednn": dnnlBatched,
            ], to: out)
            print("written: \(out)" + (predictions.map { ", \($0)" } ?? ""))
        }
    }

    struct Result {
        var accuracy: Double, loss: Double, count: Int
        var perClass: [Double], perClassCount: [Int]
    }

    /// With `rows`, appends a CSV line per image (index, label, predicted class, logits).
    func evaluate(_ model: Subnet, arch: Architecture, loader: BatchLoader, classes: Int, rows: inout [String]?) -> Result {
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
        return Result(accuracy: Double(hits.reduce(0, +)) / Double(max(n, 1)), loss: lossSum / Double(max(n, 1)), count: n,
                      perClass: zip(hits, totals).map { $1 > 0 ? Double($0) / Double($1) : 0 }, perClassCount: totals)
    }

    func className(for data: String, classes: Int) -> [String] {
        let fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        let cifar = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        if data.hasPrefix("fashion-mnist") && classes == 10 { return fashion }
        if data.hasPrefix("cifar10") && classes == 10 { return cifar }
        return (0..<classes).map { "class \($0)" }
    }
}
