import ArgumentParser
import Datasets
import Pruning
import Quantization
import Workflows

// Typed choices of the command line: ArgumentParser parses them (and lists their values in
// `--help` and in its one-line refusal), so no command re-parses a string in run().
extension RangeObserver: ExpressibleByArgument {}
extension ImportanceCriterion: ExpressibleByArgument {}

extension WeightsChoice: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var defaultCompletionKind: CompletionKind { .file(extensions: ["safetensors"]) }
}

extension ArchitectureChoice: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public var defaultValueDescription: String {
        switch self {
        case .best: return "best"
        case .largest: return "largest"
        case .smallest: return "smallest"
        case .given(let text): return text
        }
    }
}

extension PruneMethod: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var allValueStrings: [String] { PruneMethod.all.map(\.name) }
    public var defaultValueDescription: String { name }
}

extension LatencyRuntime: ExpressibleByArgument {}
extension ImageFit: ExpressibleByArgument {}
extension EvalSplit: ExpressibleByArgument {}
