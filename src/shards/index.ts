// The shard library: everything commands need to read and write WebDataset tar streams.
export * from './sample.js';
export { BadInputs, skipBadSamples, type SkipOptions } from './bad.js';
export { braceExpansions, expandSources, expandBraces, iterateSources } from './expand.js';
export { IMAGE_EXTENSIONS, filesBelow, imageFileKey, imageFolderClasses, readImageFolder, readRegularFile, type ImageFolderOptions } from './imagefolder.js';
export { byteCompare, decodeName, encodeName, keyProblem, printableName, sortedFields, splitMemberName, type MemberName } from './keys.js';
export { refuseOverwritingInputs, shardNamer, writeSink, type SinkOptions, type SinkResult } from './sink.js';
export { checkStdinOnce, openSource, partition, readsStdin, workerPart, type SourceOptions } from './source.js';
export { DEFAULT_MAX_MEMBER_SIZE, groupMembers, readTar, type MemberOptions, type ReadTarOptions, type TarMember } from './tar-read.js';
export { encodeSample, tarBytes, type EncodedSample } from './tar-write.js';
