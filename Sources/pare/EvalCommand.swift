import ArgumentParser
import Quantization
import Runs
import Workflows

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
            var request = EvaluateRequest(model: modelDirectory)
            request.split = split
            request.weights = weights
            request.data = data
            request.batch = batch
            request.repeats = repeats
            request.predictions = predictions
            let written: String
            if int8 {
                let r = try evaluateInt8(request, engine: engine, log: logLine)
                print("\(r.architecture)  [int8: \(r.weights), \(r.observer.rawValue) ranges]")
                print(String(format: "%@ split of %@: %d images, int8 accuracy %.4f", split.rawValue, r.data, r.images, r.accuracy))
                print(String(format: "int8 latency (oneDNN) %.3f ms at batch 1, %.3f ms at batch %d (%.1f us/image); convolutions: %@",
                             r.latencyMs.single, r.latencyMs.batched, r.batch, r.latencyMs.batched * 1000 / Double(r.batch),
                             r.kernels.joined(separator: ", ")))
                written = r.file
            } else {
                let r = try evaluateModel(request, engine: engine, log: logLine)
                print("\(r.architecture)  [\(r.weights)]")
                print(String(format: "%@ split of %@: %d images, accuracy %.4f, loss %.4f", split.rawValue, r.data, r.images, r.accuracy, r.loss))
                print(String(format: "%.3f M MACs, %d parameters; latency %.3f ms at batch 1, %.3f ms at batch %d (%.1f us/image), %d threads",
                             Double(r.macs) / 1e6, r.parameters, r.latencyMs.single, r.latencyMs.batched, batch,
                             r.latencyMs.batched * 1000 / Double(batch), r.threads))
                print(String(format: "latency on oneDNN (the folded graph, NHWC float32): %.3f ms at batch 1, %.3f ms at batch %d",
                             r.onednnMs.single, r.onednnMs.batched, r.onednnBatch))
                print("class                 accuracy  images")
                for (c, name) in r.classNames.enumerated() {
                    print(name.padding(toLength: max(20, name.count), withPad: " ", startingAt: 0)
                          + String(format: "  %8.4f  %6d", r.perClass[c], r.perClassCount[c]))
                }
                written = r.file
            }
            print("written: \(written)" + (predictions.map { ", \($0)" } ?? ""))
        }
    }
}
