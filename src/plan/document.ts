// A plan or sweep file as data: JSON by its .json name, else YAML 1.2 (which reads JSON too). The yaml package
// (eemeli/yaml) is loaded when such a file is read, not at every start of the command; duplicate keys are refused.
import type { Document } from 'yaml';
import { UserError } from '../errors.js';
import { requirePackage } from '../require.js';

export function parseDocument(text: string, source: string): unknown {
  if (/\.json$/i.test(source)) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new UserError(`${source}: not valid JSON (${(e as Error).message})`);
    }
  }
  const yaml: typeof import('yaml') = requirePackage('yaml');
  const doc: Document = yaml.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) throw new UserError(`${source}: not valid YAML: ${error.message.split('\n')[0].replace(/:$/, '')}`);
  return doc.toJS({ maxAliasCount: 100 });
}
