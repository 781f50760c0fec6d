import ArgumentParser
import Datasets
import Export
import Foundation
import Runs
import Spaces
import Networks
import TensorCore

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Train an exported standalone model from its inherited weights (or from scratch).",
        discussion: """
        DIR is a directory written by `pare export`. Trains with the same recipe options, progress, JSON-lines \
        metrics and checkpoints as `pare train` (run files in DIR/finetune); Ctrl-C checkpoints and \
        `pare finetune DIR --resume` continues bit-exactly. Evaluates on the validation split after each epoch \
        (running BN statistics) and writes DIR/model.finetuned.safetensors at the end.
        """)

    @Argument(help: "Model directory written by pare export.") var modelDirectory: String
    @Option(help: "Data source (default: the one the supernet was trained on, from model.json).") var data: String?
    @Flag(help: "Start from freshly initialised weights instead of the inherited ones.") var fromScratch = false
    @Option(name: .customLong("run"), help: "Run directory for checkpoints and logs (default DIR/finetune, DIR/scratch with --from-scratch).") var runDirectory: String?
    @OptionGroup var options: TrainingOptions

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: options.threads)
            try finetuneModel(modelDirectory, options: options, data: data, fromScratch: fromScratch, runDirectory: runDirectory, engine: engine)
        }
    }
}
