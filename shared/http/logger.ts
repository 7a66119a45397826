// pino options for every fastify service: the level from config (or the caller), credentials redacted by path.
/** Where log lines go instead of stdout (one JSON line per call), for a process that keeps them (the tests). */
export interface LogStream {
  write(line: string): void;
}

export type LoggerOption = boolean | { level: string; stream?: LogStream } | undefined;

export function loggerOptions(option: LoggerOption, level: string): false | { level: string; redact: string[]; stream?: LogStream } {
  if (option === false) return false;
  return {
    level: typeof option === 'object' ? option.level : level,
    redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization'],
    ...(typeof option === 'object' && option.stream ? { stream: option.stream } : {}),
  };
}
