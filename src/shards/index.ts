// The shard library: everything commands need to read and write WebDataset tar streams.
export * from './sample.js';
export { BadInputs, skipBadSamples, type SkipOptions } from './bad.js';
export { expandSources, expandBraces } from './expand.js';
export { IMAGE_EXTENSIONS, filesBelow, imageFileKey, imageFolderClasses, readImageFolder, type ImageFolderOptions } from './imagefolder.js';
export { byteCompare, keyProblem, sortedFields, splitMemberName, type MemberName } from './keys.js';
export { shardNamer, writeSink, type SinkOptions, type SinkResult } from './sink.js';
export { openSource, partition, type SourceOptions } from './source.js';
export { groupMembers, readTar, tarMembers, type ReadTarOptions, type TarMember } from './tar-read.js';
export { encodeSample, tarBytes, type EncodedSample } from './tar-write.js';
