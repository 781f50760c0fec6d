import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How images of a folder become records: the fit to the space's input, and what to do with
/// files that cannot be read as images. Stored in run.json and model.json so every later
/// command reads the folder the same way.
public struct ImageOptions: Codable, Equatable, Sendable {
    public var fit = ImageFit.crop
    /// Skip (and count) unreadable, corrupt and non-image files instead of stopping.
    public var skipBadImages = false
    public init(fit: ImageFit = .crop, skipBadImages: Bool = false) { self.fit = fit; self.skipBadImages = skipBadImages }
}

/// One split of an image folder (torchvision's ImageFolder layout): class folders holding
/// .png / .jpg / .jpeg files (any case), at any depth below the class folder; other files are
/// ignored, as torchvision ignores them. A file is decoded by its content, not its name.
public struct FolderListing: Sendable {
    public struct File: Sendable {
        /// Relative to the split's folder.
        public var path: String
        public var label: Int
        public var size: Int
        public var modified: Int
    }
    public var root: String
    public var classNames: [String]
    /// Ordered by file name (without folders), then class, then path: numbered names keep
    /// their order whatever class they are in.
    public var files: [File]

    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Lists `root`'s class folders (sorted by name); `expected`: the training split's classes,
    /// which a validation or test split must have exactly.
    public static func list(_ root: String, expected: [String]? = nil) throws -> FolderListing {
        var rootInfo = stat()
        guard stat(root, &rootInfo) == 0 else { throw DataError.badFolder(path: root, reason: "cannot open (\(String(cString: strerror(errno))))") }
        guard rootInfo.st_mode & S_IFMT == S_IFDIR else { throw DataError.badFolder(path: root, reason: "not a directory (expected a folder of class folders)") }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: root).filter { !$0.hasPrefix(".") }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } } catch {
            throw DataError.badFolder(path: root, reason: "cannot list (\(error.localizedDescription))")
        }
        var classNames: [String] = [], strays: [String] = []
        for e in entries {
            var st = stat()
            let p = (root as NSString).appendingPathComponent(e)
            guard stat(p, &st) == 0 else { throw DataError.badFolder(path: p, reason: errno == ELOOP ? "symlink loop" : "cannot open (\(String(cString: strerror(errno))))") }
            if st.st_mode & S_IFMT == S_IFDIR { classNames.append(e) } else { strays.append(e) }
        }
        guard !classNames.isEmpty else {
            throw DataError.badFolder(path: root, reason: "no class folders (expected \(root)/<class>/<image>.png|jpg, or train/, val/, test/ folders of them)" + (strays.isEmpty ? "" : "; found files such as \(strays[0])"))
        }
        if let expected, expected != classNames {
            throw DataError.badFolder(path: root, reason: "class folders \(brief(classNames)) differ from the training split's \(brief(expected))")
        }
        guard classNames.count >= 2 else { throw DataError.badFolder(path: root, reason: "only one class folder (\(classNames[0])): a classifier needs at least two") }
        var files: [File] = []
        for (label, name) in classNames.enumerated() {
            let before = files.count
            var visited = Set<[UInt64]>([[UInt64(rootInfo.st_dev), UInt64(rootInfo.st_ino)]])
            try walk(root: root, relative: name, label: label, visited: &visited, into: &files)
            guard files.count > before else {
                throw DataError.badFolder(path: (root as NSString).appendingPathComponent(name), reason: "class folder without images (expected .png, .jpg or .jpeg files)")
            }
        }
        files.sort { a, b in
            let na = (a.path as NSString).lastPathComponent, nb = (b.path as NSString).lastPathComponent
            if na != nb { return na.utf8.lexicographicallyPrecedes(nb.utf8) }
            if a.label != b.label { return a.label < b.label }
            return a.path.utf8.lexicographicallyPrecedes(b.path.utf8)
        }
        return FolderListing(root: root, classNames: classNames, files: files)
    }

    static func brief(_ names: [String]) -> String {
        names.count <= 6 ? "[\(names.joined(separator: ", "))]" : "[\(names.prefix(5).joined(separator: ", ")), … \(names.count) in all]"
    }

    /// Every file below root/relative (following links; a folder met twice is a loop).
    static func walk(root: String, relative: String, label: Int, visited: inout Set<[UInt64]>, into files: inout [File]) throws {
        let dir = (root as NSString).appendingPathComponent(relative)
        var st = stat()
        guard stat(dir, &st) == 0 else { throw DataError.badFolder(path: dir, reason: errno == ELOOP ? "symlink loop" : "cannot open (\(String(cString: strerror(errno))))") }
        guard visited.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted else {
            throw DataError.badFolder(path: dir, reason: "symlink loop (this folder is already part of the walk)")
        }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw DataError.badFolder(path: dir, reason: "cannot list (\(error.localizedDescription))")
        }
        for e in entries.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where !e.hasPrefix(".") {
            let rel = (relative as NSString).appendingPathComponent(e)
            let p = (root as NSString).appendingPathComponent(rel)
            var s = stat()
            guard stat(p, &s) == 0 else {
                // A dangling or looping link named as an image is recorded: reading it reports it (or skips it).
                if extensions.contains((e as NSString).pathExtension.lowercased()) { files.append(File(path: rel, label: label, size: -1, modified: 0)) }
                continue
            }
            if s.st_mode & S_IFMT == S_IFDIR {
                try walk(root: root, relative: rel, label: label, visited: &visited, into: &files)
                visited.remove([UInt64(s.st_dev), UInt64(s.st_ino)])
            } else if extensions.contains((e as NSString).pathExtension.lowercased()) {
                let modified = Int(s.st_mtim.tv_sec) &* 1_000_000_000 &+ Int(s.st_mtim.tv_nsec)
                files.append(File(path: rel, label: label, size: Int(s.st_size), modified: modified))
            }
        }
    }

    /// The text the decode cache is keyed by: every file, its class, size and modification time.
    var manifest: String {
        var s = "classes:\(classNames.joined(separator: "/"))\n"
        for f in files { s += "\(f.label) \(f.size) \(f.modified) \(f.path)\n" }
        return s
    }
}
