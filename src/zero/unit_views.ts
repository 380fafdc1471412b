// ParamViews whose storage is chosen per unit at the moment the model asks: ZeRO-3 resolves a
// unit to its gathered parameters, stages 2 and 3 resolve gradients to the unit's reduction
// bucket. The model code does not know the difference.
import { NamedViews, type ParamTable, type UnitRange } from '../model/params.js';
import type { Tensor } from '../native/tensor.js';
import { unitOf } from './partition.js';

export class UnitViews extends NamedViews {
  private readonly unitByName = new Map<string, UnitRange>();

  /** resolve(unit) returns a tensor of the unit's (padded) length holding its elements. */
  constructor(
    readonly table: ParamTable,
    private readonly resolve: (unit: UnitRange) => Tensor,
  ) {
    super();
    for (const e of table.entries) this.unitByName.set(e.name, unitOf(table, e.name));
  }

  tensor(name: string): Tensor {
    const e = this.table.get(name);
    const u = this.unitByName.get(name)!;
    return this.resolve(u).view(e.offset - u.start, e.shape);
  }
}
