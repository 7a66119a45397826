// pino options for every fastify service: the level from config (or the caller), credentials redacted by path.
export type LoggerOption = boolean | { level: string } | undefined;

export function loggerOptions(option: LoggerOption, level: string): false | { level: string; redact: string[] } {
  if (option === false) return false;
  return {
    level: typeof option === 'object' ? option.level : level,
    redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization'],
  };
}
