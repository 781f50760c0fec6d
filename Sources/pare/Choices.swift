import ArgumentParser
import Pruning
import Quantization

// Typed choices of the command line: ArgumentParser parses them (and lists their values in
// `--help` and in its one-line refusal), so no command re-parses a string in run().
extension RangeObserver: ExpressibleByArgument {}
extension ImportanceCriterion: ExpressibleByArgument {}
