import {
  DataEditor,
  GridCellKind,
  type DataEditorRef,
  type GridCell,
  type GridColumn,
  type Item,
} from "@glideapps/glide-data-grid";
import "@glideapps/glide-data-grid/dist/index.css";
import { forwardRef, useCallback, useMemo } from "react";
import type { RowStore } from "./row-store.js";

const COLUMN_WIDTH = 120;
const NULL_TEXT = "∅";

export interface GridViewProps {
  readonly store: RowStore;
  /** Rows to show: the rows received when the page last drew, not the store's live count. */
  readonly rows: number;
}

/**
 * The result in Glide Data Grid: a canvas that draws only the visible cells, each decoded from
 * the store when drawn. The id column stays in place while scrolling sideways.
 */
export const GridView = forwardRef<DataEditorRef, GridViewProps>(function GridView({ store, rows }, ref) {
  const columns = useMemo<GridColumn[]>(
    () => store.columns.map((column) => ({ title: column.name, id: column.name, width: COLUMN_WIDTH })),
    [store],
  );
  const getCellContent = useCallback(
    ([column, row]: Item): GridCell => {
      const value = store.cell(row, column);
      const text = value === null ? NULL_TEXT : (value ?? "");
      return { kind: GridCellKind.Text, data: value ?? "", displayData: text, allowOverlay: false, readonly: true };
    },
    [store],
  );
  return (
    <DataEditor
      ref={ref}
      columns={columns}
      rows={rows}
      getCellContent={getCellContent}
      freezeColumns={1}
      smoothScrollX
      smoothScrollY
      width="100%"
      height="100%"
    />
  );
});
