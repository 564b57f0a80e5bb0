using System.Diagnostics;
using System.Globalization;
using JointDiffusion.Gpu.Backends;
using JointDiffusion.Gpu.IO;
using JointDiffusion.Gpu.Models;
using JointDiffusion.Gpu.Sampling;
using JointDiffusion.Gpu.Tensors;

namespace JointDiffusion.Cli.Commands;

/// <summary>
/// <c>jointdiff denoise --input FOLDER</c>: denoises this shard's images batch by batch, writing each image's
/// result files atomically as soon as it is done, skipping images whose result files all exist already.
/// </summary>
/// <remarks>
/// Failures of single images (unreadable file, wrong size, diverged sampler) are reported on stderr as they
/// happen and listed again at the end; the other images are still processed and the exit code is then 1.
/// Problems that concern every image (no images at all, clashing output names, a prior that does not model
/// images) stop the run before anything is sampled.
/// </remarks>
internal sealed class DenoiseFolderRun
{
    /// <summary>Exit code of a run stopped by SIGINT or SIGTERM (the finished images are kept; rerun to resume).</summary>
    public const int Interrupted = ExitCodes.Interrupted;

    /// <summary>The folder's image files.</summary>
    public required DenoiseFolder Folder { get; init; }

    /// <summary>The output folder (created when needed).</summary>
    public required string OutDir { get; init; }

    /// <summary>Which of the folder's files this process handles.</summary>
    public required DenoiseShard Shard { get; init; }

    /// <summary>Images per batch: loaded, sampled and reported together.</summary>
    public required int Batch { get; init; }

    /// <summary>Recompute images whose result files exist already.</summary>
    public required bool Overwrite { get; init; }

    /// <summary>The signal score model.</summary>
    public required IScoreModel Signal { get; init; }

    /// <summary>The noise score model, or null for the single-prior baseline.</summary>
    public required IScoreModel? Noise { get; init; }

    /// <summary>The measurement operator's description.</summary>
    public required OperatorSpec Operator { get; init; }

    /// <summary>The image height = width for an NCSNv2 prior, or null to take the first readable image's size.</summary>
    public required int? ImageSize { get; init; }

    /// <summary>The sampler settings; <see cref="SamplerOptions.Seed"/> is the base of every image's seed.</summary>
    public required SamplerOptions Options { get; init; }

    /// <summary>Metadata stored in every posterior file besides the source file and its seed.</summary>
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }

    /// <summary>The backend the models live on.</summary>
    public required ComputeBackend Backend { get; init; }

    /// <summary>The header of the run, e.g. <c>Joint ΠGDM (λ 1, κ 1)</c>; the operator and sizes are appended.</summary>
    public required string Header { get; init; }

    /// <summary>Runs the shard; returns the exit code (0, 1 when some image failed, or <see cref="Interrupted"/>).</summary>
    public int Run(TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        var files = Folder.Files;
        if (files.Count == 0)
        {
            throw new InvalidDataException($"{Folder.Path} holds no image files ({string.Join(", ", Observation.ImageExtensions)}).");
        }

        bool joint = Noise is not null;
        int k = Options.SamplesPerObservation;
        var outputs = files.Select(f => DenoiseOutputs.ImageFileNames(Stem(f), k, joint)).ToArray();
        CheckOutputNamesAreDistinct(files, outputs);

        int channels = Observation.ImageChannels(Signal);
        int[] shape = ExpectedShape(files, channels, stdout);
        using var measurement = Operator.Create(Backend, shape);
        if (!measurement.MeasurementShape.SequenceEqual(shape))
        {
            throw new InvalidDataException($"{measurement.Description} does not measure images of [{string.Join(", ", shape)}] as images.");
        }

        var mine = Enumerable.Range(0, files.Count).Where(Shard.Contains).ToArray();
        Directory.CreateDirectory(OutDir);
        foreach (int i in mine)
        {
            RemoveStaleTemporaries(outputs[i]);
        }

        var finished = Overwrite ? [] : mine.Where(i => outputs[i].All(o => File.Exists(Path.Combine(OutDir, o)))).ToArray();
        var todo = mine.Except(finished).ToArray();
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Header}, {measurement.Description}, {files.Count} image(s) [{string.Join(", ", shape)}] in {Path.GetFullPath(Folder.Path)}, shard {Shard}: {mine.Length} image(s), " +
            $"{k} sample(s) each, {Options.Steps} steps, batch {Batch}, on {Backend.Description}"));
        if (finished.Length > 0)
        {
            stdout.WriteLine($"skipping {finished.Length} finished (their result files exist; --overwrite recomputes them)");
        }

        if (todo.Length == 0)
        {
            stdout.WriteLine($"Nothing to do for shard {Shard}: {mine.Length} image(s), all finished, in {OutDir}.");
            return ExitCodes.Success;
        }

        var sampler = new JointSampler(Signal, Noise, measurement);
        var failures = new List<string>();
        int done = 0, processed = 0;
        int batches = (todo.Length + Batch - 1) / Batch;
        var clock = Stopwatch.StartNew();
        try
        {
            for (int b = 0; b < batches; b++)
            {
                var batch = todo.Skip(b * Batch).Take(Batch).ToArray();
                cancellation.ThrowIfCancellationRequested();
                var loaded = new List<(string Path, Observation Observation)>();
                foreach (int i in batch)
                {
                    var (observation, loadFailure) = Load(files[i], channels, shape);
                    if (observation is not null)
                    {
                        loaded.Add((files[i], observation));
                    }
                    else
                    {
                        failures.Add(loadFailure!);
                        stderr.WriteLine($"failed: {loadFailure}");
                    }
                }

                var sampleFailures = DenoiseBatch(sampler, loaded, cancellation);
                foreach (var failure in sampleFailures)
                {
                    failures.Add(failure);
                    stderr.WriteLine($"failed: {failure}");
                }

                done += loaded.Count - sampleFailures.Count;
                processed += batch.Length;

                double elapsed = clock.Elapsed.TotalSeconds;
                double eta = elapsed / processed * (todo.Length - processed);
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"batch {b + 1}/{batches}: images {b * Batch + 1}–{b * Batch + batch.Length} of {todo.Length} (shard {Shard}), elapsed {Duration(elapsed)}, ETA {Duration(eta)}"));
            }
        }
        catch (OperationCanceledException)
        {
            stdout.WriteLine($"Interrupted: {done} image(s) finished in this run, {finished.Length} before it; {todo.Length - processed} of shard {Shard}'s {mine.Length} not done. " +
                "No partial result files were left. Run the same command again to finish the rest (finished images are skipped).");
            ReportFailures(stderr, failures);
            return Interrupted;
        }

        stdout.WriteLine($"Done: {done} image(s) denoised, {finished.Length} skipped as finished, {failures.Count} failed; shard {Shard}, results in {OutDir}.");
        return ReportFailures(stderr, failures) ? ExitCodes.Failure : ExitCodes.Success;
    }

    /// <summary>Loads one image and checks its shape; returns the observation or a failure message naming the file.</summary>
    private static (Observation? Observation, string? Failure) Load(string path, int channels, int[] shape)
    {
        string name = Path.GetFileName(path);
        Observation observation;
        try
        {
            observation = Observation.LoadImage(path, channels);
        }
        catch (Exception e) when (e is ImageFileException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            // ImageFileException messages start with the path; keep only the file name in the report.
            string reason = e is ImageFileException ife && e.Message.StartsWith(ife.SourceName, StringComparison.Ordinal)
                ? e.Message[ife.SourceName.Length..].TrimStart(':', ' ')
                : e.Message.StartsWith(name + ":", StringComparison.Ordinal) ? e.Message[(name.Length + 1)..].TrimStart() : e.Message;
            return (null, $"{name}: {reason}");
        }

        if (!observation.SignalShape.SequenceEqual(shape))
        {
            return (null, $"{name}: the image is {ShapeText(observation.SignalShape)} but the signal prior expects {ShapeText(shape)} " +
                $"({shape[2]}x{shape[1]} pixels); every image in the folder must have that size.");
        }

        return (observation, null);
    }

    /// <summary>
    /// Samples the loaded images of a batch in one sampler call and writes each image's results. Every image
    /// draws from its own seed (<see cref="SamplerOptions.ObservationSeeds"/>), so its result is the one it gets
    /// alone, whatever shares its batch. When the batch diverges, its images are run one by one so that only the
    /// diverging ones fail. Returns the failure messages.
    /// </summary>
    private List<string> DenoiseBatch(JointSampler sampler, List<(string Path, Observation Observation)> images, CancellationToken cancellation)
    {
        var failures = new List<string>();
        if (images.Count == 0)
        {
            return failures;
        }

        var seeds = images.Select(i => DenoiseImageSeed.For(Options.Seed, Path.GetFileName(i.Path))).ToArray();
        var values = images.SelectMany(i => i.Observation.Values).ToArray();
        PosteriorSamples result;
        try
        {
            result = sampler.Sample(values, images.Count, Options with { ObservationSeeds = seeds }, progress: null, cancellation);
        }
        catch (SamplerDivergedException) when (images.Count > 1)
        {
            foreach (var image in images)
            {
                failures.AddRange(DenoiseBatch(sampler, [image], cancellation));
            }

            return failures;
        }
        catch (SamplerDivergedException e)
        {
            failures.Add($"{Path.GetFileName(images[0].Path)}: {e.Message}");
            return failures;
        }

        for (int j = 0; j < images.Count; j++)
        {
            var metadata = new Dictionary<string, string>(Metadata)
            {
                ["source"] = Path.GetFileName(images[j].Path),
                ["seed"] = seeds[j].ToString(CultureInfo.InvariantCulture),
            };
            DenoiseOutputs.WriteImage(OutDir, result.Observation(j), Stem(images[j].Path), metadata);
        }

        return failures;
    }

    /// <summary>
    /// The [C, H, W] every image must have: the Gaussian prior's sample shape, or [C, s, s] with --image-size, or
    /// the size of the first image of the whole sorted folder that can be read (the same for every shard).
    /// </summary>
    private int[] ExpectedShape(IReadOnlyList<string> files, int channels, TextWriter stdout)
    {
        int[] shape;
        if (Signal is GaussianPrior g)
        {
            shape = [.. g.SampleShape];
            if (shape.Length != 3 || shape[0] is not (1 or 3))
            {
                throw new InvalidDataException($"The Gaussian signal prior models [{string.Join(", ", shape)}], not images [1 or 3, H, W]; a folder --input needs an image prior.");
            }
        }
        else if (ImageSize is int s)
        {
            shape = [channels, s, s];
        }
        else
        {
            shape = FirstReadableShape(files, channels);
        }

        try
        {
            Signal.CheckInput(new Shape([1, .. shape]));
            Noise?.CheckInput(new Shape([1, .. shape]));
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"Images of {ShapeText(shape)} do not fit the priors: {e.Message}");
        }

        return shape;

        int[] FirstReadableShape(IReadOnlyList<string> all, int c)
        {
            foreach (var file in all)
            {
                try
                {
                    int[] first = Observation.LoadImage(file, c).SignalShape;
                    stdout.WriteLine($"Image size {ShapeText(first)} from {Path.GetFileName(file)}, the first readable image (--image-size sets it).");
                    return first;
                }
                catch (Exception e) when (e is ImageFileException or InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    // Reported when this file's shard reaches it.
                }
            }

            throw new InvalidDataException($"None of the {all.Count} image file(s) in {Folder.Path} can be read.");
        }
    }

    /// <summary>Two images whose result files would have the same name (a.png and a.jpg) are refused up front.</summary>
    private static void CheckOutputNamesAreDistinct(IReadOnlyList<string> files, string[][] outputs)
    {
        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        var clashes = new List<string>();
        for (int i = 0; i < files.Count; i++)
        {
            foreach (var output in outputs[i])
            {
                string name = Path.GetFileName(files[i]);
                if (!owner.TryAdd(output, name))
                {
                    clashes.Add($"{owner[output]} and {name} both write {output}");
                }
            }
        }

        if (clashes.Count > 0)
        {
            throw new InvalidDataException($"Result files would clash; rename the inputs: {string.Join("; ", clashes)}.");
        }
    }

    /// <summary>Deletes temporaries the atomic writers left beside this shard's targets when a run was killed while writing.</summary>
    private void RemoveStaleTemporaries(string[] targets)
    {
        foreach (var target in targets)
        {
            foreach (var stale in Directory.EnumerateFiles(OutDir, $".{target}.*.tmp"))
            {
                File.Delete(stale);
            }
        }
    }

    /// <summary>Lists the failures again at the end; returns whether there were any.</summary>
    private static bool ReportFailures(TextWriter stderr, List<string> failures)
    {
        if (failures.Count == 0)
        {
            return false;
        }

        stderr.WriteLine($"{failures.Count} image(s) failed (the others are done; fix or remove these and run again):");
        foreach (var failure in failures)
        {
            stderr.WriteLine($"  {failure}");
        }

        return true;
    }

    private static string Stem(string path) => Path.GetFileNameWithoutExtension(path);

    private static string ShapeText(int[] shape) => $"[{string.Join(", ", shape)}]";

    /// <summary>"12.3 s" under a minute, else h:mm:ss.</summary>
    private static string Duration(double seconds)
    {
        if (!double.IsFinite(seconds))
        {
            seconds = 0;
        }

        var t = TimeSpan.FromSeconds(seconds);
        return seconds < 60
            ? string.Create(CultureInfo.InvariantCulture, $"{seconds:F1} s")
            : string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}");
    }
}
