// A table's header row; columns named with a leading "#" are right-aligned numbers.
export function Head({ cols }: { cols: string[] }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => (c.startsWith("#") && c.length > 1 ? <th key={c} className="num">{c.slice(1)}</th> : <th key={c}>{c}</th>))}
      </tr>
    </thead>
  );
}
