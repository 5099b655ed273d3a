#include "core/io/h5.hpp"

#include "core/io/errors.hpp"
#include "core/io/fence.hpp"
#include "core/io/input_guard.hpp"

#include <cstring>
#include <mutex>

namespace moesim::h5 {

Handle& Handle::operator=(Handle&& o) noexcept
{
  if (this != &o) {
    this->~Handle();
    id_ = o.id_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

Handle::~Handle()
{
  if (id_ < 0)
    return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
  id_ = H5I_INVALID_HID;
}

template <> hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t native_type<int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t native_type<int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t native_type<uint16_t>() { return H5T_NATIVE_UINT16; }
template <> hid_t native_type<uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t native_type<uint64_t>() { return H5T_NATIVE_UINT64; }

void silence_hdf5_errors()
{
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

void throw_bad(const Location& loc, const std::string& name, const std::string& what)
{
  std::string obj = loc.path == "/" ? "/" + name : loc.path + "/" + name;
  throw InputError(loc.file, "HDF5 object '" + obj + "'", what);
}

static Handle string_type()
{
  Handle t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t.id(), H5T_VARIABLE);
  H5Tset_cset(t.id(), H5T_CSET_UTF8);
  return t;
}

namespace {

/// Seconds the string probe may take: reading a trace's strings takes milliseconds.
constexpr int string_probe_timeout_s = 10;

void read_vlen_strings(hid_t obj, hid_t type, hid_t space, bool attribute)
{
  if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) <= 0)
    return;
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n <= 0 || n > (1 << 24))
    return; // the reader's own size checks refuse what is implausible
  std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
  Handle mem = string_type(); // the readers' memory type: the same conversion path
  const herr_t rc = attribute ? H5Aread(obj, mem.id(), ptrs.data())
                              : H5Dread(obj, mem.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
  if (rc >= 0)
    H5Dvlen_reclaim(mem.id(), space, H5P_DEFAULT, ptrs.data());
}

herr_t probe_attribute(hid_t loc, const char* name, const H5A_info_t*, void*)
{

  Handle a(H5Aopen(loc, name, H5P_DEFAULT));
  if (a) {
    Handle type(H5Aget_type(a.id()));
    Handle space(H5Aget_space(a.id()));
    read_vlen_strings(a.id(), type.id(), space.id(), true);
  }
  return 0;
}

herr_t probe_object(hid_t parent, const char* name, const H5O_info_t* info, void*)
{

  Handle o(H5Oopen(parent, name, H5P_DEFAULT));
  if (!o)
    return 0;
  H5Aiterate2(o.id(), H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, probe_attribute, nullptr);
  if (info->type == H5O_TYPE_DATASET) {
    Handle type(H5Dget_type(o.id()));
    Handle space(H5Dget_space(o.id()));
    read_vlen_strings(o.id(), type.id(), space.id(), false);
  }
  return 0;
}

/// Reads every variable-length string of the file in a child process first: libhdf5's global-heap reader loops
/// forever or crashes on some corrupt heaps (docs/robustness.md), which no check in this process could stop.
void probe_strings_in_child(const std::string& path)
{
  const FenceResult r = run_fenced(
      [&path] {
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f >= 0)
          H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, probe_object, nullptr, H5O_INFO_BASIC);
        return 0;
      },
      string_probe_timeout_s);
  // Not started (fork failed): no fence, but the read itself may still succeed.
  if (r.timed_out)
    throw InputError(path, "", "the HDF5 library did not finish reading the file's strings in " +
                                   std::to_string(string_probe_timeout_s) + " s (corrupt global heap)");
  if (r.signal != 0)
    throw InputError(path, "", "the HDF5 library crashed (signal " + std::to_string(r.signal) +
                                   ") reading the file's strings (corrupt file)");
}

} // namespace

File File::open_read(const std::string& path)
{
  silence_hdf5_errors();
  File f;
  f.path_ = path;
  note_input_file(path);
  htri_t is = H5Fis_hdf5(path.c_str());
  if (is <= 0)
    throw InputError(path, "", "cannot open as HDF5 (missing, truncated or not an HDF5 file)");
  probe_strings_in_child(path);
  f.handle_ = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f.handle_)
    throw InputError(path, "", "cannot open as HDF5 (truncated or corrupt file)");
  return f;
}

File File::create(const std::string& path)
{
  silence_hdf5_errors();
  File f;
  f.path_ = path;
  f.handle_ = Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!f.handle_)
    throw InputError(path, "", "cannot create HDF5 file (check the directory exists and is writable)");
  return f;
}

void File::flush() { H5Fflush(handle_.id(), H5F_SCOPE_GLOBAL); }

Location root(const File& f) { return Location{f.id(), f.path(), "/", nullptr}; }

static std::string child_path(const Location& loc, const std::string& name)
{
  return loc.path == "/" ? "/" + name : loc.path + "/" + name;
}

Location create_group(const Location& parent, const std::string& name)
{
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE));
  H5Pset_obj_track_times(gcpl.id(), 0);
  auto g = std::make_shared<Handle>(H5Gcreate2(parent.id, name.c_str(), H5P_DEFAULT, gcpl.id(), H5P_DEFAULT));
  if (!*g)
    throw_bad(parent, name, "cannot create group");
  return Location{g->id(), parent.file, child_path(parent, name), g};
}

Location open_group(const Location& parent, const std::string& name)
{
  if (!exists(parent, name))
    throw_bad(parent, name, "missing group");
  auto g = std::make_shared<Handle>(H5Gopen2(parent.id, name.c_str(), H5P_DEFAULT));
  if (!*g)
    throw_bad(parent, name, "cannot open group");
  return Location{g->id(), parent.file, child_path(parent, name), g};
}

bool exists(const Location& loc, const std::string& name)
{
  return H5Lexists(loc.id, name.c_str(), H5P_DEFAULT) > 0;
}

template <typename T>
void write_dataset(const Location& loc, const std::string& name, const std::vector<T>& data,
                   const std::vector<hsize_t>& dims, hsize_t chunk_rows, int deflate)
{
  hsize_t n = 1;
  for (auto d : dims)
    n *= d;
  if (n != data.size())
    throw InternalError("write_dataset " + name + ": shape does not match data size");
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl.id(), 0); // no timestamps: same inputs give byte-identical files
  if (chunk_rows > 0 && n > 0) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = std::min<hsize_t>(chunk_rows, dims[0]);
    H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data());
    if (deflate > 0) {
      if (sizeof(T) > 1) // shuffling one-byte values changes nothing
        H5Pset_shuffle(dcpl.id());
      H5Pset_deflate(dcpl.id(), deflate);
    }
  }
  Handle ds(H5Dcreate2(loc.id, name.c_str(), native_type<T>(), space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT));
  if (!ds)
    throw_bad(loc, name, "cannot create dataset");
  if (n > 0 && H5Dwrite(ds.id(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0)
    throw_bad(loc, name, "cannot write dataset");
}

// A corrupt header can declare far more values than the file holds: refuse before allocating for them.
// Deflate expands at most about 1032:1; anything beyond that (and 1 MiB) cannot be real data.
static void check_declared_size(const Location& loc, const std::string& name, hid_t ds, hsize_t n,
                                size_t element_bytes)
{
  const double declared = static_cast<double>(n) * static_cast<double>(element_bytes);
  const double stored = static_cast<double>(H5Dget_storage_size(ds));
  if (declared > 1048576.0 && declared > 1100.0 * stored)
    throw_bad(loc, name, "declares " + std::to_string(n) + " values but the file stores only " +
                             std::to_string(static_cast<uint64_t>(stored)) + " bytes of them (truncated or corrupt)");
}

size_t stored_element_bytes(const Location& loc, const std::string& name)
{
  if (!exists(loc, name))
    return 0;
  Handle ds(H5Dopen2(loc.id, name.c_str(), H5P_DEFAULT));
  if (!ds)
    return 0;
  Handle type(H5Dget_type(ds.id()));
  return type ? H5Tget_size(type.id()) : 0;
}

template <typename T>
std::vector<T> read_dataset(const Location& loc, const std::string& name, std::vector<hsize_t>& dims)
{
  if (!exists(loc, name))
    throw_bad(loc, name, "missing dataset");
  Handle ds(H5Dopen2(loc.id, name.c_str(), H5P_DEFAULT));
  if (!ds)
    throw_bad(loc, name, "cannot open dataset");
  Handle type(H5Dget_type(ds.id()));
  if (H5Tget_class(type.id()) != H5Tget_class(native_type<T>()))
    throw_bad(loc, name, "dataset has the wrong element type");
  Handle space(H5Dget_space(ds.id()));
  const int rank = H5Sget_simple_extent_ndims(space.id());
  if (rank < 0 || rank > 8)
    throw_bad(loc, name, "bad dataspace");
  dims.assign(static_cast<size_t>(rank), 0);
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  hsize_t n = 1;
  for (auto d : dims)
    n *= d;
  if (n > (hsize_t(1) << 34))
    throw_bad(loc, name, "dataset too large (" + std::to_string(n) + " elements)");
  check_declared_size(loc, name, ds.id(), n, H5Tget_size(type.id()));
  std::vector<T> out(n);
  if (n > 0 && H5Dread(ds.id(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw_bad(loc, name, "cannot read dataset (truncated or corrupt data)");
  return out;
}

#define MOESIM_H5_INSTANTIATE(T)                                                                                       \
  template void write_dataset<T>(const Location&, const std::string&, const std::vector<T>&,                       \
                                 const std::vector<hsize_t>&, hsize_t, int);                                       \
  template std::vector<T> read_dataset<T>(const Location&, const std::string&, std::vector<hsize_t>&);
MOESIM_H5_INSTANTIATE(double)
MOESIM_H5_INSTANTIATE(float)
MOESIM_H5_INSTANTIATE(int64_t)
MOESIM_H5_INSTANTIATE(int32_t)
MOESIM_H5_INSTANTIATE(uint16_t)
MOESIM_H5_INSTANTIATE(uint8_t)
MOESIM_H5_INSTANTIATE(uint64_t)
#undef MOESIM_H5_INSTANTIATE


void write_strings(const Location& loc, const std::string& name, const std::vector<std::string>& data)
{
  Handle type = string_type();
  hsize_t n = data.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl.id(), 0);
  Handle ds(H5Dcreate2(loc.id, name.c_str(), type.id(), space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT));
  if (!ds)
    throw_bad(loc, name, "cannot create dataset");
  std::vector<const char*> ptrs;
  for (const auto& s : data)
    ptrs.push_back(s.c_str());
  if (n > 0 && H5Dwrite(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
    throw_bad(loc, name, "cannot write dataset");
}

std::vector<std::string> read_strings(const Location& loc, const std::string& name)
{
  if (!exists(loc, name))
    throw_bad(loc, name, "missing dataset");
  Handle ds(H5Dopen2(loc.id, name.c_str(), H5P_DEFAULT));
  Handle ftype(H5Dget_type(ds.id()));
  if (H5Tget_class(ftype.id()) != H5T_STRING || !H5Tis_variable_str(ftype.id()))
    throw_bad(loc, name, "expected a dataset of variable-length strings");
  Handle space(H5Dget_space(ds.id()));
  if (H5Sget_simple_extent_ndims(space.id()) != 1)
    throw_bad(loc, name, "expected a 1-D dataset");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.id(), &n, nullptr);
  check_declared_size(loc, name, ds.id(), n, H5Tget_size(ftype.id()));
  std::vector<char*> ptrs(n, nullptr);
  Handle type = string_type();
  if (n > 0 && H5Dread(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
    throw_bad(loc, name, "cannot read dataset (truncated or corrupt data)");
  std::vector<std::string> out;
  for (char* p : ptrs)
    out.emplace_back(p ? p : "");
  if (n > 0)
    H5Dvlen_reclaim(type.id(), space.id(), H5P_DEFAULT, ptrs.data());
  return out;
}

static void write_attr_raw(const Location& loc, const std::string& name, hid_t type, hid_t space, const void* buf)
{
  if (H5Aexists(loc.id, name.c_str()) > 0)
    H5Adelete(loc.id, name.c_str());
  Handle a(H5Acreate2(loc.id, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT));
  if (!a || H5Awrite(a.id(), type, buf) < 0)
    throw_bad(loc, "@" + name, "cannot write attribute");
}

void write_attr(const Location& loc, const std::string& name, const std::string& value)
{
  Handle type = string_type();
  Handle space(H5Screate(H5S_SCALAR));
  const char* p = value.c_str();
  write_attr_raw(loc, name, type.id(), space.id(), &p);
}

void write_attr(const Location& loc, const std::string& name, int64_t value)
{
  Handle space(H5Screate(H5S_SCALAR));
  write_attr_raw(loc, name, H5T_NATIVE_INT64, space.id(), &value);
}

void write_attr(const Location& loc, const std::string& name, double value)
{
  Handle space(H5Screate(H5S_SCALAR));
  write_attr_raw(loc, name, H5T_NATIVE_DOUBLE, space.id(), &value);
}

void write_attr(const Location& loc, const std::string& name, const std::vector<int>& value)
{
  hsize_t n = value.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  write_attr_raw(loc, name, H5T_NATIVE_INT, space.id(), value.data());
}

bool has_attr(const Location& loc, const std::string& name) { return H5Aexists(loc.id, name.c_str()) > 0; }

static Handle open_attr(const Location& loc, const std::string& name)
{
  if (!has_attr(loc, name))
    throw_bad(loc, "@" + name, "missing attribute");
  Handle a(H5Aopen(loc.id, name.c_str(), H5P_DEFAULT));
  if (!a)
    throw_bad(loc, "@" + name, "cannot open attribute");
  return a;
}

std::string read_attr_string(const Location& loc, const std::string& name)
{
  Handle a = open_attr(loc, name);
  Handle ftype(H5Aget_type(a.id()));
  if (H5Tget_class(ftype.id()) != H5T_STRING || !H5Tis_variable_str(ftype.id()))
    throw_bad(loc, "@" + name, "expected a string attribute");
  Handle type = string_type();
  char* p = nullptr;
  if (H5Aread(a.id(), type.id(), &p) < 0)
    throw_bad(loc, "@" + name, "cannot read attribute");
  std::string s = p ? p : "";
  H5free_memory(p);
  return s;
}

int64_t read_attr_int(const Location& loc, const std::string& name)
{
  Handle a = open_attr(loc, name);
  Handle ftype(H5Aget_type(a.id()));
  if (H5Tget_class(ftype.id()) != H5T_INTEGER)
    throw_bad(loc, "@" + name, "expected an integer attribute");
  int64_t v = 0;
  if (H5Aread(a.id(), H5T_NATIVE_INT64, &v) < 0)
    throw_bad(loc, "@" + name, "cannot read attribute");
  return v;
}

double read_attr_double(const Location& loc, const std::string& name)
{
  Handle a = open_attr(loc, name);
  double v = 0;
  if (H5Aread(a.id(), H5T_NATIVE_DOUBLE, &v) < 0)
    throw_bad(loc, "@" + name, "cannot read attribute");
  return v;
}

std::vector<int> read_attr_ints(const Location& loc, const std::string& name)
{
  Handle a = open_attr(loc, name);
  Handle ftype(H5Aget_type(a.id()));
  if (H5Tget_class(ftype.id()) != H5T_INTEGER)
    throw_bad(loc, "@" + name, "expected an integer attribute");
  Handle space(H5Aget_space(a.id()));
  hssize_t n = H5Sget_simple_extent_npoints(space.id());
  if (n < 0 || n > (1 << 24))
    throw_bad(loc, "@" + name, "bad attribute size");
  std::vector<int> v(static_cast<size_t>(n));
  if (n > 0 && H5Aread(a.id(), H5T_NATIVE_INT, v.data()) < 0)
    throw_bad(loc, "@" + name, "cannot read attribute");
  return v;
}

void CompoundWriter::add_double(const std::string& name, const std::vector<double>* column)
{
  columns_.push_back({name, column, nullptr});
}

void CompoundWriter::add_int(const std::string& name, const std::vector<int64_t>* column)
{
  columns_.push_back({name, nullptr, column});
}

void CompoundWriter::write(const Location& loc, const std::string& name) const
{
  if (columns_.empty())
    throw InternalError("CompoundWriter: no columns");
  const size_t rows = columns_[0].d ? columns_[0].d->size() : columns_[0].i->size();
  const size_t rec = 8 * columns_.size(); // every column is 8 bytes wide
  Handle type(H5Tcreate(H5T_COMPOUND, rec));
  for (size_t c = 0; c < columns_.size(); ++c)
    H5Tinsert(type.id(), columns_[c].name.c_str(), 8 * c, columns_[c].d ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64);
  std::vector<unsigned char> buf(rows * rec);
  for (size_t c = 0; c < columns_.size(); ++c) {
    const size_t n = columns_[c].d ? columns_[c].d->size() : columns_[c].i->size();
    if (n != rows)
      throw InternalError("CompoundWriter: column " + columns_[c].name + " has a different length");
    for (size_t r = 0; r < rows; ++r) {
      const void* src = columns_[c].d ? static_cast<const void*>(&(*columns_[c].d)[r])
                                      : static_cast<const void*>(&(*columns_[c].i)[r]);
      std::memcpy(&buf[r * rec + 8 * c], src, 8);
    }
  }
  hsize_t n = rows;
  Handle space(H5Screate_simple(1, &n, nullptr));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl.id(), 0);
  Handle ds(H5Dcreate2(loc.id, name.c_str(), type.id(), space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT));
  if (!ds || (rows > 0 && H5Dwrite(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0))
    throw_bad(loc, name, "cannot write table");
}

} // namespace moesim::h5
